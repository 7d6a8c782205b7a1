// `mozart model list | show | import | cost`.
#include <algorithm>

#include "commands.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/hf_import.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::cli {
namespace {

using model::MoeModel;
using nlohmann::ordered_json;

ordered_json params_json(const model::ParamCounts& p) {
  return ordered_json{{"total", p.total},
                      {"active", p.active},
                      {"active_without_embedding", p.active_without_embedding},
                      {"active_without_embeddings", p.active_without_embeddings},
                      {"embedding", p.embedding},
                      {"lm_head", p.lm_head},
                      {"attention", p.attention},
                      {"linear_attention", p.linear_attention},
                      {"mamba", p.mamba},
                      {"routers", p.routers},
                      {"routed_experts", p.routed_experts},
                      {"shared_experts", p.shared_experts},
                      {"dense_ffn", p.dense_ffn},
                      {"norms", p.norms},
                      {"checkpoint_bytes", p.checkpoint_bytes}};
}

// "36 linear_attention/moe, 12 attention/moe", in order of first appearance.
std::string layout_text(const MoeModel& m) {
  std::vector<std::pair<model::LayerKind, int>> runs;
  for (const model::LayerKind& kind : m.layout) {
    auto it =
        std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.first == kind; });
    if (it == runs.end())
      runs.emplace_back(kind, 1);
    else
      ++it->second;
  }
  std::string out;
  for (const auto& [kind, n] : runs)
    out += fmt::format("{}{} {}/{}", out.empty() ? "" : ", ", n, model::to_string(kind.mixer),
                       model::to_string(kind.ffn));
  return out;
}

std::string dense_layers_text(const MoeModel& m) {
  if (m.dense_layers.empty())
    return "none";
  std::string out;
  for (int l : m.dense_layers)
    out += (out.empty() ? "" : ",") + std::to_string(l);
  return out;
}

std::string mixer_counts(const model::ParamCounts& p) {
  std::string out;
  if (p.linear_attention > 0)
    out += ", linear attention " + human_count(double(p.linear_attention));
  if (p.mamba > 0)
    out += ", Mamba " + human_count(double(p.mamba));
  return out;
}

bool uses(const MoeModel& m, model::Mixer mixer) {
  return std::any_of(m.layout.begin(), m.layout.end(),
                     [&](const model::LayerKind& k) { return k.mixer == mixer; });
}

// The numbers of the mixers other than the main attention, for those the layout uses.
void print_other_mixers(const MoeModel& m) {
  if (uses(m, model::Mixer::sliding_attention)) {
    const model::AttentionShape s = model::attention_shape(m, model::Mixer::sliding_attention);
    fmt::print("  {:<16}window {}: {} heads, {} KV heads, head dim {} (values {})\n", "sliding",
               m.sliding.window, s.heads, s.kv_heads, s.head_dim, s.v_head_dim);
  }
  if (uses(m, model::Mixer::linear_attention)) {
    const model::LinearSpec& a = m.linear;
    fmt::print("  {:<16}{}: {} key heads x {}, {} value heads x {}, conv {}\n", "linear attn",
               model::to_string(a.kind), a.key_heads, a.key_head_dim, a.value_heads,
               a.value_head_dim, a.conv_kernel);
  }
  if (uses(m, model::Mixer::mamba)) {
    const model::MambaSpec& s = m.mamba;
    fmt::print("  {:<16}Mamba-{}: inner {}, state {}, conv {}\n", "mamba", s.version, s.inner,
               s.d_state, s.d_conv);
  }
}

void print_model(const MoeModel& m) {
  model::ParamCounts p = model::count_params(m);
  fmt::print("{}  ({})\n", m.name, m.source.empty() ? "user file" : m.source);
  fmt::print("  {:<16}{}\n", "family", m.family.empty() ? "-" : m.family);
  fmt::print("  {:<16}{} ({} MoE; dense layers: {})\n", "layers", m.layers, m.moe_layer_count(),
             dense_layers_text(m));
  if (m.is_hybrid())
    fmt::print("  {:<16}{}\n", "layout", layout_text(m));
  fmt::print("  {:<16}{}\n", "hidden", m.hidden);
  fmt::print("  {:<16}{} (embeddings {})\n", "vocabulary", m.vocab,
             m.tied_embeddings ? "tied" : "untied");
  if (m.attention == model::AttentionKind::mla) {
    fmt::print("  {:<16}mla: {} heads, q_lora {}, kv_lora {}, qk {}+{} (nope+rope), v {}\n",
               "attention", m.heads, m.mla.q_lora_rank, m.mla.kv_lora_rank, m.mla.qk_nope_head_dim,
               m.mla.qk_rope_head_dim, m.mla.v_head_dim);
  } else {
    fmt::print("  {:<16}{}: {} heads, {} KV heads, head dim {}, qkv bias {}, qk-norm {}\n",
               "attention", to_string(m.attention), m.heads, m.kv_heads, m.head_dim,
               m.qkv_bias ? "yes" : "no", to_string(m.qk_norm));
  }
  print_other_mixers(m);
  fmt::print("  {:<16}{} routed, top-{}, expert FFN {} ({})\n", "experts", m.routed_experts,
             m.top_k, m.expert_ffn, m.gated_ffn ? "SwiGLU" : "up, relu2, down");
  if (m.shared_experts > 0) {
    fmt::print("  {:<16}{} x FFN {}{}\n", "shared experts", m.shared_experts, m.shared_expert_ffn,
               m.shared_expert_gate ? ", sigmoid-gated" : "");
  }
  if (m.dense_ffn > 0)
    fmt::print("  {:<16}{}\n", "dense FFN", m.dense_ffn);
  fmt::print("  {:<16}{}\n", "data type", core::to_string(m.dtype));
  if (m.quantization.format != model::QuantFormat::none) {
    fmt::print("  {:<16}{} checkpoint ({}), {:.1f} GB stored\n", "quantization",
               model::to_string(m.quantization.format),
               m.quantization.attention ? "FFN and attention" : "FFN only",
               p.checkpoint_bytes / 1e9);
  }
  fmt::print("  {:<16}{} total, {} active per token ({:.1f}%)\n", "parameters",
             human_count(double(p.total)), human_count(double(p.active)),
             100.0 * double(p.active) / double(p.total));
  fmt::print("  {:<16}active without the input embedding {}, without embedding and LM head {}\n",
             "", human_count(double(p.active_without_embedding)),
             human_count(double(p.active_without_embeddings)));
  fmt::print(
      "  {:<16}embedding {}, LM head {}, attention {}{}, routers {}, routed experts {}, "
      "shared experts {}, dense FFN {}, norms {}\n",
      "", human_count(double(p.embedding)), human_count(double(p.lm_head)),
      human_count(double(p.attention)), mixer_counts(p), human_count(double(p.routers)),
      human_count(double(p.routed_experts)), human_count(double(p.shared_experts)),
      human_count(double(p.dense_ffn)), human_count(double(p.norms)));
}

void run_list(bool json) {
  if (json) {
    ordered_json out = ordered_json::array();
    for (const std::string& name : model::preset_names()) {
      MoeModel m = *model::find_preset(name);
      model::ParamCounts p = model::count_params(m);
      out.push_back({{"name", name},
                     {"source", m.source},
                     {"total_params", p.total},
                     {"active_params", p.active}});
    }
    print_json(out);
    return;
  }
  fmt::print("{:<20}{:>8}{:>8}{:>9}{:>7}{:>10}{:>10}  {}\n", "name", "layers", "hidden", "experts",
             "top-k", "total", "active", "source");
  for (const std::string& name : model::preset_names()) {
    MoeModel m = *model::find_preset(name);
    model::ParamCounts p = model::count_params(m);
    fmt::print("{:<20}{:>8}{:>8}{:>9}{:>7}{:>10}{:>10}  {}\n", name, m.layers, m.hidden,
               m.routed_experts, m.top_k, human_count(double(p.total)),
               human_count(double(p.active)), m.source);
  }
}

ordered_json totals_json(const model::CostTotals& t) {
  return ordered_json{{"flops", t.flops},
                      {"gemm_flops", t.gemm_flops},
                      {"weight_bytes", t.weight_bytes},
                      {"activation_bytes", t.activation_bytes}};
}

struct CostOptions {
  std::string model;
  int seq_len = 256;
  int sequences = 8;
  int micro_batches = 4;
  int layer = -1;
  bool json = false;
};

void run_cost(const CostOptions& o) {
  MoeModel m = model::load_model(o.model);
  if (o.layer >= m.layers) {
    throw core::InputError(core::InputLocation{"--layer", "", 0}, std::to_string(o.layer),
                           fmt::format("a layer index below {}", m.layers));
  }
  const int layer = o.layer >= 0 ? o.layer : m.first_moe_layer();
  model::Batch batch{o.sequences, o.seq_len, true};
  std::vector<model::OpCost> forward = model::layer_forward_ops(m, layer, batch);
  std::vector<model::OpCost> ops = forward;
  for (model::Pass pass : {model::Pass::backward_input, model::Pass::backward_weight}) {
    std::vector<model::OpCost> backward = model::backward_ops(forward, pass);
    ops.insert(ops.end(), backward.begin(), backward.end());
  }
  std::vector<model::OpCost> optimizer = model::layer_optimizer_ops(m, layer, {});
  ops.insert(ops.end(), optimizer.begin(), optimizer.end());
  model::StepCost step = model::training_step_cost(m, batch, o.micro_batches);

  // Per-expert ops are summed over experts so the table stays short.
  struct Row {
    std::string name;
    model::Pass pass;
    double flops = 0, weight = 0, activation = 0;
    int experts = 0;
  };
  std::vector<Row> rows;
  for (const model::OpCost& op : ops) {
    auto it = std::find_if(rows.begin(), rows.end(),
                           [&](const Row& r) { return r.name == op.name && r.pass == op.pass; });
    if (it == rows.end())
      it = rows.insert(rows.end(), Row{op.name, op.pass});
    it->flops += op.flops;
    it->weight += op.weight_bytes;
    it->activation += op.input_bytes + op.output_bytes;
    it->experts += op.expert >= 0 ? 1 : 0;
  }
  if (o.json) {
    ordered_json table = ordered_json::array();
    for (const Row& r : rows) {
      table.push_back({{"op", r.name},
                       {"pass", model::to_string(r.pass)},
                       {"experts", r.experts},
                       {"flops", r.flops},
                       {"weight_bytes", r.weight},
                       {"activation_bytes", r.activation}});
    }
    print_json({{"model", m.name},
                {"layer", layer},
                {"micro_batch", {{"sequences", o.sequences}, {"seq_len", o.seq_len}}},
                {"micro_batches", o.micro_batches},
                {"layer_ops", table},
                {"step",
                 {{"tokens", step.tokens},
                  {"forward", totals_json(step.forward)},
                  {"backward_input", totals_json(step.backward_input)},
                  {"backward_weight", totals_json(step.backward_weight)},
                  {"optimizer", totals_json(step.optimizer)},
                  {"total", totals_json(step.total())},
                  {"flops_per_token", step.total().flops / step.tokens}}}});
    return;
  }
  fmt::print("{}: layer {} ({}), micro-batch {} x {} tokens, uniform routing\n", m.name, layer,
             m.is_moe_layer(layer) ? "MoE" : "dense", o.sequences, o.seq_len);
  fmt::print("{:<22}{:<17}{:>8}{:>12}{:>14}{:>14}\n", "op", "pass", "experts", "FLOPs",
             "weight bytes", "act. bytes");
  for (const Row& r : rows) {
    fmt::print("{:<22}{:<17}{:>8}{:>12}{:>14}{:>14}\n", r.name, model::to_string(r.pass),
               r.experts > 0 ? std::to_string(r.experts) : "", sci(r.flops), sci(r.weight),
               sci(r.activation));
  }
  fmt::print("\nTraining step: {} micro-batches, {} tokens, all {} layers\n", o.micro_batches,
             step.tokens, m.layers);
  auto line = [](const char* name, const model::CostTotals& t) {
    fmt::print("  {:<17}{:>12} FLOPs{:>12} weight bytes{:>12} activation bytes\n", name,
               sci(t.flops), sci(t.weight_bytes), sci(t.activation_bytes));
  };
  line("forward", step.forward);
  line("backward input", step.backward_input);
  line("backward weight", step.backward_weight);
  line("optimizer", step.optimizer);
  line("total", step.total());
  fmt::print("  {:<17}{:>12} FLOPs per token\n", "", sci(step.total().flops / step.tokens));
}

void run_import(const std::string& config, const std::string& output, bool json) {
  core::OutputPlan outputs("mozart model import");
  outputs.input(config).output("-o", output,
                               json ? std::vector<std::string>{".json"}
                                    : std::vector<std::string>{".yaml", ".yml", ".json"});
  outputs.check();
  const model::HfImport imported = model::import_hf(core::read_text_file(config), config);
  const MoeModel& m = imported.model;
  for (const std::string& note : imported.notes)
    fmt::print(stderr, "mozart: note: {}\n", note);
  const bool as_json = json || core::extension_of(output) == ".json";
  const std::string text = as_json ? model::to_json(m).dump(2) + "\n" : model::to_yaml(m);
  if (output.empty())
    return fmt::print("{}", text);
  outputs.stage(output, text);
  outputs.commit();
}

}  // namespace

void add_model_commands(CLI::App& app) {
  CLI::App* model_cmd = app.add_subcommand("model", "MoE model zoo: list, show, import, cost");
  model_cmd->require_subcommand(1);

  auto* list = model_cmd->add_subcommand("list", "List the built-in model presets");
  auto list_json = std::make_shared<bool>(false);
  list->add_flag("--json", *list_json, "Print JSON");
  list->callback([list_json] { run_list(*list_json); });

  auto* show = model_cmd->add_subcommand("show", "Show a model: preset name or file");
  auto show_name = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  show->add_option("model", *show_name, "Preset name, mozart model file or HF config.json")
      ->required();
  show->add_flag("--json", *show_json, "Print JSON");
  show->callback([show_name, show_json] {
    MoeModel m = model::load_model(*show_name);
    if (*show_json) {
      ordered_json j = model::to_json(m);
      j["params"] = params_json(model::count_params(m));
      print_json(j);
    } else {
      print_model(m);
    }
  });

  auto* import = model_cmd->add_subcommand(
      "import", "Convert a Hugging Face config.json into mozart's model format");
  auto import_path = std::make_shared<std::string>();
  auto import_out = std::make_shared<std::string>();
  auto import_json = std::make_shared<bool>(false);
  import->add_option("config", *import_path, "Path to config.json")->required();
  import->add_option("-o,--output", *import_out,
                     "Write the model file here (.yaml, .yml or .json: the format follows the "
                     "extension; else stdout)");
  import->add_flag("--json", *import_json, "JSON instead of YAML");
  import->callback([import_path, import_out, import_json] {
    run_import(*import_path, *import_out, *import_json);
});

auto* cost = model_cmd->add_subcommand(
    "cost", "FLOPs and bytes of a layer's ops and of a training step (uniform routing)");
auto o = std::make_shared<CostOptions>();
cost->add_option("model", o->model, "Preset name or model file")->required();
cost->add_option("--seq-len", o->seq_len, "Tokens per sequence")
    ->check(whole(1, 1 << 20))
    ->capture_default_str();
cost->add_option("--sequences", o->sequences, "Sequences per micro-batch")
    ->check(whole(1, 1 << 20))
    ->capture_default_str();
cost->add_option("--micro-batches", o->micro_batches, "Micro-batches per step")
    ->check(whole(1, 1 << 20))
    ->capture_default_str();
cost->add_option("--layer", o->layer, "Layer to itemise (default: the first MoE layer)")
    ->check(whole(0, 1 << 20));
cost->add_flag("--json", o->json, "Print JSON");
cost->callback([o] { run_cost(*o); });
}  // namespace mozart::cli

}  // namespace mozart::cli
