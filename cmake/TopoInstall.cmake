# Install rules and the exported CMake package: find_package(topoformer) + topo::topoformer.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(topo_libraries GLOBAL PROPERTY TOPO_LIBRARIES)
install(TARGETS ${topo_libraries} topoformer
  EXPORT topoformerTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/topoformer)
install(FILES ${PROJECT_BINARY_DIR}/generated/common/config.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/topoformer/common)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/topoformer)
install(EXPORT topoformerTargets NAMESPACE topo:: DESTINATION ${config_dir})
configure_package_config_file(cmake/topoformerConfig.cmake.in
  ${PROJECT_BINARY_DIR}/topoformerConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/topoformerConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/topoformerConfig.cmake
              ${PROJECT_BINARY_DIR}/topoformerConfigVersion.cmake
        DESTINATION ${config_dir})
