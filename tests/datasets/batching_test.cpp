// SPDX-License-Identifier: Apache-2.0
// Transforms, collation, the data loader and splits.
#include "datasets/batching.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "datasets/transforms.h"
#include "support/tensor_assertions.h"

namespace topo::datasets {
namespace {

std::vector<Sample> clouds(int64_t count) {
  torch::manual_seed(0);
  std::vector<Sample> out;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = 5 + i % 4;
    Sample s;
    s.pos = torch::randn({n, 3}) + 3.0;
    s.x = torch::randn({n, 2});
    s.edge_index = torch::stack({torch::arange(n - 1), torch::arange(1, n)});
    s.y = torch::tensor(i % 3, torch::kLong);
    out.push_back(s);
  }
  return out;
}

TEST(Transforms, GeometryIsRight) {
  auto s = clouds(1)[0];
  const auto centred = center()(s, std::nullopt);
  EXPECT_TENSOR_CLOSE(centred.pos.mean(0), torch::zeros({3}), {1e-5, 1e-6});
  const auto unit = normalize_scale()(s, std::nullopt);
  EXPECT_NEAR(unit.pos.norm(2, 1).max().item<float>(), 1.0f, 1e-6);
  // Rotations keep distances; z-rotations keep z; SO(3) rotations are proper.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto rotated = random_rotate(false)(unit, gen);
  EXPECT_TENSOR_CLOSE(torch::cdist(rotated.pos, rotated.pos), torch::cdist(unit.pos, unit.pos),
                      {1e-4, 1e-5});
  const auto about_z = random_rotate(true)(unit, gen);
  EXPECT_TENSOR_CLOSE(about_z.pos.select(1, 2), unit.pos.select(1, 2));
  const auto jittered = random_jitter(0.01, 0.02)(unit, gen);
  EXPECT_LE((jittered.pos - unit.pos).abs().max().item<float>(), 0.02f + 1e-6);
  const auto scaled = random_scale(2.0, 2.0)(unit, gen);
  EXPECT_TENSOR_CLOSE(scaled.pos, unit.pos * 2);
  const auto sub = random_subsample(3)(s, gen);
  EXPECT_EQ(sub.pos.size(0), 3);
  EXPECT_EQ(sub.x.size(0), 3);
  // Seeded: the same generator seed gives the same result.
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(9),
       g2 = at::make_generator<at::CPUGeneratorImpl>(9);
  const auto pipeline = compose({normalize_scale(), random_rotate(false), random_jitter()});
  EXPECT_TRUE(pipeline(s, g1).pos.equal(pipeline(s, g2).pos));
}

TEST(Transforms, AugmentationsByNameMatchTheirFunctionsAndStayInRange) {
  auto s = clouds(1)[0];
  s.pos = s.pos.slice(1, 0, 2).contiguous();  // a 2-D cloud (digits)
  // By name = the function with those settings, under the same seed.
  const auto same = [&](const Transform& a, const Transform& b) {
    auto g1 = at::make_generator<at::CPUGeneratorImpl>(5),
         g2 = at::make_generator<at::CPUGeneratorImpl>(5);
    return a(s, g1).pos.equal(b(s, g2).pos);
  };
  EXPECT_TRUE(same(parse_augmentation("scale:low=0.9,high=1.1"), random_scale(0.9, 1.1)));
  EXPECT_FALSE(same(parse_augmentation("scale:low=0.9,high=1.1"), random_scale(0.8, 1.1)));
  EXPECT_TRUE(same(parse_augmentation("jitter"), random_jitter(0.01, 0.05)));
  EXPECT_TRUE(same(parse_augmentation("rotate:degrees=15"), random_rotate(true, 15)));
  // rotate:degrees=15 turns by at most 15 degrees, and over many draws both ways up to it.
  const auto rotate = parse_augmentation("rotate:degrees=15");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  double lowest = 0, highest = 0;
  for (int i = 0; i < 200; ++i) {
    const auto r = rotate(s, gen).pos;
    const auto a = s.pos[0], b = r[0];
    const double angle = std::atan2((a[0] * b[1] - a[1] * b[0]).item<double>(),
                                    (a[0] * b[0] + a[1] * b[1]).item<double>()) *
                         180 / M_PI;
    lowest = std::min(lowest, angle);
    highest = std::max(highest, angle);
  }
  EXPECT_GE(lowest, -15 - 1e-3);
  EXPECT_LE(highest, 15 + 1e-3);
  EXPECT_LT(lowest, -13);
  EXPECT_GT(highest, 13);
  // Point dropout keeps a subset of the points (positions and features alike), at least one,
  // and over many draws drops about max_ratio / 2 of them.
  const auto dropout = parse_augmentation("dropout:max_ratio=0.5");
  Sample many;
  many.pos = torch::rand({400, 2});
  many.x = many.pos.sum(1, true);
  double kept = 0;
  for (int i = 0; i < 50; ++i) {
    const auto d = dropout(many, gen);
    ASSERT_GE(d.pos.size(0), 1);
    ASSERT_EQ(d.x.size(0), d.pos.size(0));
    EXPECT_TENSOR_CLOSE(d.x, d.pos.sum(1, true));
    kept += static_cast<double>(d.pos.size(0)) / 400 / 50;
  }
  EXPECT_NEAR(kept, 0.75, 0.05);
  // Bad text names the text and what was expected.
  const auto message = [](const std::string& text) {
    try {
      parse_augmentation(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("spin").find("expected one of rotate, rotate-so3, scale"), std::string::npos);
  EXPECT_NE(message("scale:factor=2").find("key of scale (low, high)"), std::string::npos);
  EXPECT_NE(message("jitter:sigma=abc").find("sigma must be a finite number"), std::string::npos);
  EXPECT_NE(message("scale:low=inf").find("low must be a finite number"), std::string::npos);
  EXPECT_NE(message("jitter:clip=-0.1").find("sigma, clip"), std::string::npos);
  EXPECT_NE(message("rotate:degrees=200").find("max_degrees"), std::string::npos);
  EXPECT_NE(message("dropout:max_ratio=1").find("in [0, 1)"), std::string::npos);
  EXPECT_NE(describe_augmentations().find("dropout[:max_ratio=0.875]"), std::string::npos);
}

TEST(Collate, ConcatenatesWithBatchVectorAndShiftsEdges) {
  const auto samples = clouds(3);
  const auto batch = collate(samples);
  EXPECT_EQ(batch.num_graphs, 3);
  EXPECT_TRUE(batch.ptr.equal(torch::tensor({0, 5, 11, 18})));
  EXPECT_TRUE(
      batch.batch.equal(torch::repeat_interleave(torch::arange(3), torch::tensor({5, 6, 7}))));
  EXPECT_EQ(batch.data.edge_index.size(1), 4 + 5 + 6);
  EXPECT_EQ(batch.data.edge_index.select(1, 4).equal(torch::tensor({5, 6})), true);
  EXPECT_TRUE(batch.data.y.equal(torch::tensor({0, 1, 2})));
  auto broken = samples;
  broken[1].x = torch::Tensor();
  broken[1].name = "cloud.ply";
  EXPECT_THROW_WITH(
      collate(broken),
      "collate: `x` of samples[1] (cloud.ply) is undefined but defined in samples[0]");
}

TEST(Collate, PadsWithAKeyPaddingMask) {
  const auto samples = clouds(3);
  const auto padded = collate_padded(samples);
  EXPECT_EQ(padded.pos.sizes(), (std::vector<int64_t>{3, 7, 3}));
  EXPECT_EQ(padded.key_padding_mask.sum().item<int64_t>(), 2 + 1 + 0);
  EXPECT_TRUE(padded.pos[0].slice(0, 0, 5).equal(samples[0].pos));
  EXPECT_EQ(padded.pos[0].slice(0, 5).abs().sum().item<float>(), 0.0f);
}

TEST(DataLoader, DeterministicAtAnyWorkerCountAndEpochDependent) {
  const auto data = std::make_shared<std::vector<Sample>>(clouds(23));
  const auto run = [&](int64_t workers, int64_t epoch) {
    DataLoaderOptions options;
    options.batch_size = 4;
    options.seed = 5;
    options.num_workers = workers;
    options.transform = compose({random_rotate(false), random_jitter()});
    DataLoader loader(data, options);
    loader.start_epoch(epoch);
    std::vector<torch::Tensor> out;
    while (auto batch = loader.next()) out.push_back(collate(*batch).data.pos);
    return torch::cat(out);
  };
  const auto serial = run(0, 0);
  EXPECT_TRUE(serial.equal(run(3, 0)));
  EXPECT_FALSE(serial.equal(run(0, 1)));
  DataLoaderOptions drop;
  drop.batch_size = 4;
  drop.drop_last = true;
  DataLoader loader(data, drop);
  EXPECT_EQ(loader.num_batches(), 5);
  loader.start_epoch(0);
  std::set<int64_t> sizes;
  while (auto batch = loader.next()) sizes.insert(static_cast<int64_t>(batch->size()));
  EXPECT_EQ(sizes, (std::set<int64_t>{4}));
}

TEST(DataLoader, ShardsPartitionEachEpochIntoTheGlobalBatches) {
  // Samples identified by y = index; 25 = 2 global batches of 3 × 4, then one of 1 sample.
  auto data = std::make_shared<std::vector<Sample>>(clouds(25));
  for (int64_t i = 0; i < 25; ++i) (*data)[i].y = torch::tensor(i, torch::kLong);
  const auto ids = [](const std::vector<Sample>& batch) {
    std::vector<int64_t> out;
    for (const auto& s : batch) out.push_back(s.y.item<int64_t>());
    return out;
  };
  for (const int64_t replicas : {1, 2, 3}) {
    for (const int64_t epoch : {0, 1}) {
      DataLoaderOptions whole;
      whole.batch_size = 4 * replicas;
      whole.seed = 5;
      DataLoader single(data, whole);
      single.start_epoch(epoch);
      std::vector<std::unique_ptr<DataLoader>> shards;
      for (int64_t r = 0; r < replicas; ++r) {
        auto o = whole;
        o.batch_size = 4;
        o.num_replicas = replicas;
        o.rank = r;
        o.num_workers = r % 2;  // sharding does not depend on the workers
        shards.push_back(std::make_unique<DataLoader>(data, o));
        shards.back()->start_epoch(epoch);
        EXPECT_EQ(shards.back()->num_batches(), single.num_batches());
      }
      while (auto expected = single.next()) {
        std::multiset<int64_t> got;
        for (auto& shard : shards) {
          const auto batch = shard->next();
          ASSERT_TRUE(batch.has_value());
          const auto share = shard->last_share();
          EXPECT_EQ(share.global, static_cast<int64_t>(expected->size()));
          const auto own = ids(*batch);
          if (share.own == 0) {
            // The stand-in: the global batch's first sample, not to be counted.
            EXPECT_EQ(own, std::vector<int64_t>{ids(*expected).front()});
          } else {
            EXPECT_EQ(share.own, static_cast<int64_t>(own.size()));
            got.insert(own.begin(), own.end());
          }
        }
        const auto want = ids(*expected);
        EXPECT_EQ(got, std::multiset<int64_t>(want.begin(), want.end()))
            << replicas << " replicas, epoch " << epoch;
      }
      for (auto& shard : shards) EXPECT_FALSE(shard->next().has_value());
    }
  }
  DataLoaderOptions bad;
  bad.num_replicas = 2;
  bad.rank = 2;
  EXPECT_THROW_WITH(DataLoader(data, bad), "DataLoader: `rank` must be in [0, 2), got 2");
}

TEST(Splits, RandomSplitAndKFoldArePartitions) {
  const auto parts = random_split(100, {0.8, 0.1, 0.1}, 3);
  EXPECT_EQ(parts[0].size(0), 80);
  EXPECT_EQ(parts[2].size(0), 10);
  EXPECT_EQ(std::get<0>(torch::cat(parts).sort()).equal(torch::arange(100)), true);
  EXPECT_TRUE(random_split(100, {0.8, 0.2}, 3)[0].equal(random_split(100, {0.8, 0.2}, 3)[0]));
  const auto folds = k_fold(10, 3, 1);
  auto tested = torch::cat({folds[0].second, folds[1].second, folds[2].second});
  EXPECT_TRUE(std::get<0>(tested.sort()).equal(torch::arange(10)));
  EXPECT_EQ(folds[0].first.size(0) + folds[0].second.size(0), 10);
  EXPECT_THROW_WITH(random_split(10, {0.5, 0.2}, 0), "summing to 1");
  EXPECT_THROW_WITH(k_fold(3, 5, 0), "`k` must be in [2, n = 3]");
}

}  // namespace
}  // namespace topo::datasets
