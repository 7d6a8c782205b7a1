// A point's inputs: the hardware and model documents (preset or file) with the point's
// `hw.*` and `model.*` values set in them, read by the same readers as every command, and the
// check that every swept field names something before any point runs.
#pragma once

#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/sweep/spec.hpp"

namespace mozart::sweep {

// The `hw` setting with every `hw.PATH` setting applied ("hw.memories.0.bandwidth").
hw::HwSpec point_hw(const std::vector<Assignment>& settings);
// The `model` setting (zoo name, model file or Hugging Face config.json) with every
// `model.PATH` setting applied to its mozart YAML form.
model::MoeModel point_model(const std::vector<Assignment>& settings);

// Checks every field of the spec against a run's `options` and the documents it names, and
// reads every point's hardware and model once: an unknown field is an InputError naming it
// and the nearest valid ones, a bad value one naming the point.
void check_points(const SweepSpec& spec, const std::vector<std::string>& options);

// Up to `count` candidates nearest to `word` by edit distance, nearest first.
std::vector<std::string> nearest(const std::string& word,
                                 const std::vector<std::string>& candidates, std::size_t count = 3);

}  // namespace mozart::sweep
