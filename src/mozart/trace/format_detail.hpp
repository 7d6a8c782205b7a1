// Internal to the trace module: one reader and writer per format, and what they share.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/mman.h>

#include "mozart/trace/formats.hpp"
#include "mozart/trace/stream.hpp"

namespace mozart::trace::detail {

// What mozart writes beside the records: model, expert count, k, layer ids and domain names.
nlohmann::json metadata(const Trace& trace);
// Fills model, shape and domain names of `trace` from a metadata object.
void apply_metadata(const nlohmann::json& meta, Trace& trace, const std::string& source);

// The shape of a foreign file: what the file says (`observed`, zeros where silent) checked
// against and completed by the user's hint.
TraceShape resolve_shape(const TraceShape& observed, const TraceShape& hint,
                         const std::string& source);

// The one error for a file without records, whatever its format.
[[noreturn]] void fail_empty(const std::string& source);

// An allocator that takes blocks of a megabyte or more straight from mmap, for columns that
// grow while a file is read: a block freed as a column grows, or once it is placed in the trace,
// goes back to the kernel at once, where malloc would keep it in its heap (it raises its mmap
// threshold to 32 MiB after the first large free) and the process would hold the records twice.
template <typename T>
class MappedAllocator {
 public:
  using value_type = T;

  MappedAllocator() = default;
  template <typename U>
  MappedAllocator(const MappedAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n * sizeof(T) < kMapped)
      return static_cast<T*>(::operator new(n * sizeof(T)));
    void* p =
        ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < kMapped)
      ::operator delete(p);
    else
      ::munmap(p, n * sizeof(T));
  }
  template <typename U>
  void construct(U* p) noexcept {  // resize() leaves new elements uninitialised
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const MappedAllocator<U>&) const noexcept {
    return true;
  }

 private:
  static constexpr std::size_t kMapped = std::size_t{1} << 20;
};

template <typename T>
using GrowingColumn = std::vector<T, MappedAllocator<T>>;

// One (token, layer) record of a text format as read: -1 where a field is absent.
struct Record {
  std::int64_t layer = -1;  // the model's layer index
  std::int64_t token = -1;
  std::int64_t sequence = -1;
  std::int64_t position = -1;
  int domain = -1;  // from Assembler::intern_domain
  std::uint64_t line = 0;
};

// Builds a trace from the records of a text format as they stream in, holding little more than
// the trace itself: each layer's expert ids and gates are appended in file order, which for
// files ordered by token within each layer (mozart's own, and loggers') is already the
// trace's layout. Nothing is sized by a field's value: a token index is checked against the
// number of records the file holds before anything is allocated for it. Every record is
// checked as it is added (ids in range and distinct, gates finite in [0, 1]), naming its line,
// so the trace finish() returns passes validate() without a second pass over it.
class Assembler {
 public:
  // `trace` holds what the file's metadata said (model, shape, domain names), if anything;
  // `token_field` names the token column in errors.
  Assembler(Trace trace, const ReadOptions& options, std::string source, std::string token_field);

  int intern_domain(std::string_view name, std::uint64_t line);
  // How much of the file has been read: the records still to come are estimated from it, so that
  // a column is reserved once for the whole file instead of doubling (each doubling copies what
  // the column holds into fresh pages, which the kernel must fault in and zero).
  void read_so_far(std::uint64_t bytes_done, std::uint64_t total_bytes);
  // Gates: empty when the record has none.
  void add(const Record& record, std::span<const std::int64_t> ids, std::span<const double> gates);
  // Checks the records complete (one per token and layer) and returns the trace.
  Trace finish();

 private:
  // A layer's records in file order.
  struct Layer {
    int id = 0;
    GrowingColumn<ExpertId> ids;
    GrowingColumn<float> gates;
    std::uint64_t records = 0;
    // Once a record arrives out of token order: the tokens of the records from then on (and of
    // the ordered ones before, 0, 1, ...) and the lines of those after, for errors.
    std::uint64_t ordered_prefix = UINT64_MAX;
    GrowingColumn<std::uint64_t> tokens;
    GrowingColumn<std::uint64_t> lines;
  };
  // A token's sequence, position and domain, from a record that came before the token's turn.
  struct Pending {
    std::uint64_t token = 0;
    std::uint32_t sequence = 0, position = 0;
    int domain = -1;
    std::uint64_t line = 0;
  };

  [[noreturn]] void fail(std::uint64_t line, const std::string& field, const std::string& value,
                         const std::string& expected) const;
  void start(const Record& first, std::size_t k, bool gates);
  Layer& layer_of(const Record& record);
  void check_ids(const Record& record, std::span<const std::int64_t> ids);
  void check_gates(const Record& record, const float* gates) const;
  template <typename T>
  void make_room(GrowingColumn<T>& column, std::size_t need) const;
  void note_token(const Record& record);
  void agree(std::uint64_t token, std::uint32_t sequence, std::uint32_t position, int domain,
             std::uint64_t line);
  void check_tokens() const;
  void check_duplicates(const Layer& layer, std::uint64_t tokens) const;
  void check_complete(std::uint64_t tokens) const;
  void check_sparse_tokens() const;
  std::vector<std::size_t> complete_tokens(std::uint64_t tokens) const;
  void keep_complete(Trace& out, const std::vector<std::size_t>& kept) const;
  void settle_tokens(std::uint64_t tokens);
  void place(Layer& layer, std::size_t slot, Trace& out) const;

  Trace trace_;
  const ReadOptions& options_;
  std::string source_;
  std::string token_field_;
  bool started_ = false;
  bool gates_ = false;
  std::size_t k_ = 0;
  std::vector<Layer> layers_;
  std::map<std::int64_t, std::size_t> layer_index_;
  std::size_t last_layer_ = 0;
  std::uint64_t records_ = 0;
  double growth_ = 0;  // the file's bytes over those read, with a margin; 0 until known
  double limit_ = 0;   // the memory limit in bytes, a cap on any estimate
  std::vector<std::uint64_t> stamp_;  // per expert: the last record (stamped_) that chose it
  std::uint64_t stamped_ = 0;
  std::int64_t max_token_ = -1;
  std::uint64_t max_token_line_ = 0;
  // Per token, appended in token order as tokens first appear; others wait in pending_.
  GrowingColumn<std::uint32_t> sequence_, position_;
  GrowingColumn<int> domain_;
  std::vector<Pending> pending_;
  std::vector<std::string> domains_;
  std::unordered_map<std::string, int> domain_index_;
  int last_domain_ = 0;
};

Trace read_native(Input& in, const Progress& progress);
void write_native(const Trace& trace, Sink& sink, const Progress& progress);
NativeHeader parse_native_header(std::string_view bytes, const std::string& source);

Trace read_jsonl(LineChunks& input, const ReadOptions& options);
void write_jsonl(const Trace& trace, Sink& sink, const Progress& progress);

Trace read_npy(Input& in, const ReadOptions& options);
void write_npy(const Trace& trace, Sink& sink, const Progress& progress);

Trace read_csv(LineChunks& input, const ReadOptions& options);
void write_csv(const Trace& trace, Sink& sink, const Progress& progress);

}  // namespace mozart::trace::detail
