// JSONL traces. Records in the exact shape mozart writes go through a hand parser for that
// shape; any other line (other field order, spacing, escapes, a value out of range, an error)
// and the rest of its chunk go through simdjson's DOM document stream (its kernels are chosen at
// run time for the CPU), which accepts any JSON and says what is wrong. Both paths read the same
// values: the hand parser gives up on anything it would read differently.
#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <simdjson.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

bool is_any(std::string_view key, const std::vector<std::string>& names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// The field names of each role in a record: the common loggers' by default, or those that
// ReadOptions::fields maps (a mapped role answers to its name only, which every record must
// carry).
struct FieldNames {
  std::vector<std::string> layer{"layer"}, token{"token_idx", "token"},
      sequence{"seq_id", "sequence"}, position{"position", "pos"}, domain{"domain"},
      experts{"experts", "expert_ids", "topk_ids"}, gates{"gating_probs", "gates", "topk_weights"},
      logits;
  std::vector<std::pair<std::string, std::string>> mapped;  // role, field
  int top_k = 0;                                            // for logits
  int logit_count = 0;  // one per expert: the expert count given or in the metadata; 0 unknown

  FieldNames(const ReadOptions& options, const std::string& source, int metadata_experts)
      : top_k(options.hint.top_k),
        logit_count(options.hint.experts > 0 ? options.hint.experts : metadata_experts) {
    for (const auto& [role, field] : options.fields) {
      std::vector<std::string>* names = role == "layer"      ? &layer
                                        : role == "token"    ? &token
                                        : role == "sequence" ? &sequence
                                        : role == "position" ? &position
                                        : role == "domain"   ? &domain
                                        : role == "experts"  ? &experts
                                        : role == "gates"    ? &gates
                                        : role == "logits"   ? &logits
                                                             : nullptr;
      if (names == nullptr)
        throw InputError({source, "--fields", 0}, role,
                         "a role among token, layer, experts, gates, logits, sequence, position, "
                         "domain (ROLE=FIELD)");
      if (field.empty())
        throw InputError({source, "--fields", 0}, role + "=", "ROLE=FIELD with a field name");
      *names = {field};
      mapped.emplace_back(role, field);
    }
    if (!logits.empty() && top_k <= 0)
      throw InputError({source, "--fields", 0}, "logits=" + logits.front(),
                       "the top-k to take from router logits (--model or --top-k)");
  }
};

// Records are streamed through one simdjson parser a chunk of whole lines at a time.
static_assert(LineChunks::kPadding >= simdjson::SIMDJSON_PADDING);

// Mozart's own record shape, `{"layer": L, "token_idx": T, "seq_id": S, "position": P,
// "experts": [...], "gating_probs": [...], "domain": "d"}` (gates and domain optional), read
// without a general JSON parser. Every method returns false, leaving the record half-read, at
// anything outside that shape or outside the general path's bounds, so the caller re-reads the
// line with simdjson, which reports what is wrong.
class OwnShape {
 public:
  OwnShape(std::vector<std::int64_t>& ids, std::vector<double>& gates) : ids_(ids), gates_(gates) {}

  // The line that begins `text`; on success, the bytes it took with its line end (the newline
  // or the end of `text`). `has_gates`, `domain` say what it held.
  std::size_t read(std::string_view text, Record& record, bool& has_gates,
                   std::optional<std::string_view>& domain) {
    p_ = text.data();
    end_ = text.data() + text.size();
    has_gates = false;
    domain.reset();
    if (!(literal("{\"layer\": ") && integer(1 << 20, record.layer) && token_fields(record) &&
          id_list()))
      return 0;
    if (literal(", \"gating_probs\": [")) {
      if (!gate_list())
        return 0;
      has_gates = true;
    }
    if (literal(", \"domain\": \"") && !plain_string(domain.emplace()))
      return 0;
    if (!literal("}"))
      return 0;
    literal("\r");
    if (p_ != end_ && !literal("\n"))
      return 0;
    return static_cast<std::size_t>(p_ - text.data());
  }

 private:
  // The text of a string literal, of a size known where it is called (so memcmp is inlined).
  template <std::size_t N>
  bool literal(const char (&text)[N]) {
    constexpr std::size_t size = N - 1;
    if (static_cast<std::size_t>(end_ - p_) < size || std::memcmp(p_, text, size) != 0)
      return false;
    p_ += size;
    return true;
  }

  // A JSON integer in [0, max] (no sign, no leading zero, at most 15 digits). One or two
  // digits, the common case of expert ids, are taken without a branch on which: ids of one and
  // two digits alternate unpredictably.
  bool integer(std::int64_t max, std::int64_t& out) {
    if (end_ - p_ >= 3) {
      const unsigned a = digit_value(p_[0]), b = digit_value(p_[1]), c = digit_value(p_[2]);
      const bool two = b <= 9;
      if (a <= 9 && !(two && (a == 0 || c <= 9))) {
        out = two ? a * 10 + b : a;
        p_ += two ? 2 : 1;
        if (*p_ == '.' || *p_ == 'e' || *p_ == 'E')
          return false;  // a number that is not an integer: the general path names it
        return out <= max;
      }
    }
    Decimal d;
    if (!digits(true, d) || d.count > 15)
      return false;
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E'))
      return false;  // a number that is not an integer: the general path names it
    out = static_cast<std::int64_t>(d.mantissa);
    return out <= max;
  }

  // A non-negative JSON number, read as simdjson reads it (correctly rounded to double).
  bool number(double& out) {
    const char* start = p_;
    Decimal d;
    if (!digits(true, d))
      return false;
    if (p_ < end_ && *p_ == '.') {
      const char* fraction = ++p_;
      if (!many_digits(d))
        return false;
      d.exponent -= static_cast<int>(p_ - fraction);
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      const bool negative = p_ < end_ && *p_ == '-';
      if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      Decimal e;
      if (!digits(false, e))
        return false;
      d.exponent += negative ? -static_cast<int>(e.mantissa) : static_cast<int>(e.mantissa);
      d.exact = d.exact && e.count <= 4;
    }
    if (d.exact && exact_double(d, out))
      return true;
    const auto [at, error] = std::from_chars(start, p_, out);
    return error == std::errc() && at == p_ && std::isfinite(out);
  }

  // The digits of a decimal number as read: mantissa × 10^exponent while `exact`.
  struct Decimal {
    std::uint64_t mantissa = 0;
    int count = 0;  // digits in the mantissa, leading zeros included
    int exponent = 0;
    bool exact = true;
  };

  // The value of a digit character; above 9 for any other.
  static unsigned digit_value(char c) {
    return static_cast<unsigned>(static_cast<unsigned char>(c)) - '0';
  }

  // One or more digits, appended to `d`; for an integer part, no leading zero before another
  // digit.
  bool digits(bool integer_part, Decimal& d) {
    const char* start = p_;
    std::uint64_t mantissa = d.mantissa;  // wraps past 19 digits, when it is no longer used
    for (; p_ < end_; ++p_) {
      const auto digit = static_cast<unsigned>(*p_) - '0';
      if (digit > 9)
        break;
      mantissa = mantissa * 10 + digit;
    }
    return took_digits(start, mantissa, integer_part, d);
  }

  // As digits(), eight bytes at a time, for the long runs of a fraction: the text is followed
  // by readable padding (LineChunks::kPadding), and digits past its end are not taken.
  bool many_digits(Decimal& d) {
    const char* start = p_;
    std::uint64_t mantissa = d.mantissa;
    for (;;) {
      std::uint64_t word = 0;
      std::memcpy(&word, p_, sizeof word);
      const auto n = static_cast<int>(std::min<std::ptrdiff_t>(leading_digits(word), end_ - p_));
      if (n == 0)
        break;
      mantissa = mantissa * kPowersOfTen[n] + value_of_digits(word, n);
      p_ += n;
      if (n < 8)
        break;
    }
    return took_digits(start, mantissa, false, d);
  }

  // Appends the digits from `start` to p_, whose value (with d's before) is `mantissa`.
  bool took_digits(const char* start, std::uint64_t mantissa, bool integer_part, Decimal& d) {
    const auto n = static_cast<int>(p_ - start);
    d.mantissa = mantissa;
    d.count += n;
    d.exact = d.exact && d.count <= 19;  // more than a 64-bit mantissa holds: from_chars reads it
    return n > 0 && !(integer_part && *start == '0' && n > 1);
  }

  static constexpr std::uint64_t kPowersOfTen[] = {1,      10,      100,      1000,     10000,
                                                   100000, 1000000, 10000000, 100000000};

  // How many of the word's bytes, from the lowest (the first in the text), are ASCII digits.
  static int leading_digits(std::uint64_t word) {
    // A byte is a digit when its high half is 3 and adding 6 to it carries nothing into that half.
    const std::uint64_t other =
        ((word & 0xF0F0F0F0F0F0F0F0ull) ^ 0x3030303030303030ull) |
        (((word & 0x0F0F0F0F0F0F0F0Full) + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull);
    return other == 0 ? 8 : std::countr_zero(other) / 8;
  }

  // The number the first `n` (1 to 8) bytes of the word spell: shifted so that the bytes before
  // them read as leading zeros, then combined two, four and eight digits at a time.
  static std::uint64_t value_of_digits(std::uint64_t word, int n) {
    std::uint64_t v = (word - 0x3030303030303030ull) << (8 * (8 - n));
    v = (v * 10) + (v >> 8);
    v = (((v & 0x000000FF000000FFull) * 0x000F424000000064ull) +
         (((v >> 16) & 0x000000FF000000FFull) * 0x0000271000000001ull)) >>
        32;
    return v & 0xFFFFFFFFull;
  }

  // Clinger's fast path: a mantissa below 2^53 and a power of ten up to 10^22 are exact doubles,
  // so one multiplication or division rounds correctly.
  static constexpr double kPowers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  static bool exact_double(const Decimal& d, double& out) {
    if (d.mantissa >= (std::uint64_t{1} << 53) || d.exponent < -22 || d.exponent > 22)
      return false;
    const auto m = static_cast<double>(d.mantissa);
    out = d.exponent < 0 ? m / kPowers[-d.exponent] : m * kPowers[d.exponent];
    return true;
  }

  // From `, "token_idx": ` to the experts' opening bracket. A token's records follow one another
  // (one per layer) with the same text there: it is compared whole with the last one read, and
  // its values reused, instead of read again.
  bool token_fields(Record& record) {
    const std::size_t size = last_fields_.size();
    if (size > 0 && static_cast<std::size_t>(end_ - p_) >= size &&
        std::memcmp(p_, last_fields_.data(), size) == 0) {
      record.token = last_record_.token;
      record.sequence = last_record_.sequence;
      record.position = last_record_.position;
      p_ += size;
      return true;
    }
    const char* start = p_;
    if (!(literal(", \"token_idx\": ") && integer(std::int64_t{1} << 40, record.token) &&
          literal(", \"seq_id\": ") && integer(0xFFFFFFFFll, record.sequence) &&
          literal(", \"position\": ") && integer(0xFFFFFFFFll, record.position) &&
          literal(", \"experts\": [")))
      return false;
    last_fields_.assign(start, p_);
    last_record_ = record;
    return true;
  }

  bool id_list() {
    ids_.clear();
    std::int64_t id = 0;
    do {
      if (!integer(65535, id))
        return false;
      ids_.push_back(id);
    } while (literal(", "));
    return literal("]");
  }

  // Gates are read as mantissas and divisors (1 for those number() reads) and divided after the
  // list, in one loop the compiler vectorises: the divisions no longer wait one by one.
  bool gate_list() {
    gates_.clear();
    divisors_.clear();
    double mantissa = 0, divisor = 1;
    do {
      if (!fraction(mantissa, divisor)) {
        divisor = 1;
        if (!number(mantissa))
          return false;
      }
      gates_.push_back(mantissa);
      divisors_.push_back(divisor);
    } while (literal(", "));
    for (std::size_t i = 0; i < gates_.size(); ++i)
      gates_[i] /= divisors_[i];
    return literal("]");
  }

  // "0." and 1 to 16 fraction digits, as the writer gives gates below one: the mantissa and the
  // power of ten to divide it by, as number() reads them (Clinger's fast path), from two 8-byte
  // loads without a loop. False, reading nothing, for any other text.
  bool fraction(double& mantissa, double& divisor) {
    if (end_ - p_ < 3 || p_[0] != '0' || p_[1] != '.')
      return false;
    const char* digits = p_ + 2;
    std::uint64_t high = 0, low = 0;  // the text is followed by readable padding
    std::memcpy(&high, digits, sizeof high);
    std::memcpy(&low, digits + 8, sizeof low);
    // Without branches on the digit count (gates of 8 and 9 digits mix unpredictably).
    const int in_high = leading_digits(high);
    const int in_low = in_high == 8 ? leading_digits(low) : 0;
    const int n = static_cast<int>(std::min<std::ptrdiff_t>(in_high + in_low, end_ - digits));
    if (n == 0)
      return false;
    const char* after = digits + n;
    if (after < end_ && (*after == 'e' || *after == 'E' || (*after >= '0' && *after <= '9')))
      return false;  // an exponent, or more digits than two loads hold: number() reads those
    const int low_n = std::max(n - 8, 0);
    const std::uint64_t low_value =
        value_of_digits(low, std::max(low_n, 1)) & (low_n > 0 ? ~std::uint64_t{0} : 0);
    const std::uint64_t m = value_of_digits(high, std::min(n, 8)) * kPowersOfTen[low_n] + low_value;
    if (m >= (std::uint64_t{1} << 53))
      return false;
    mantissa = static_cast<double>(m);
    divisor = kPowers[n];
    p_ = after;
    return true;
  }

  // Printable ASCII without quote or backslash up to the closing quote: the text is the value.
  // Records name the same domain over and over: the last one read is tried first, whole.
  bool plain_string(std::string_view& out) {
    const std::size_t size = last_string_.size();
    if (static_cast<std::size_t>(end_ - p_) > size && p_[size] == '"' &&
        std::memcmp(p_, last_string_.data(), size) == 0) {
      out = {p_, size};
      p_ += size + 1;
      return true;
    }
    const char* start = p_;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ < 0x20 || *p_ > 0x7E || *p_ == '\\')
        return false;
      ++p_;
    }
    if (p_ == end_)
      return false;
    out = {start, static_cast<std::size_t>(p_ - start)};
    last_string_ = out;
    ++p_;
    return true;
  }

  std::vector<std::int64_t>& ids_;
  std::vector<double>& gates_;
  std::vector<double> divisors_;
  std::string last_string_;
  std::string last_fields_;  // the token fields' text of the last record that read them
  Record last_record_;       // and their values
  const char* p_ = nullptr;
  const char* end_ = nullptr;
};

class Reader {
 public:
  Reader(const std::string& source, Assembler& out, const FieldNames& names)
      : source_(source), out_(out), names_(names) {}

  // The records in `text`, whose first line is line `line` of the file: lines in mozart's own
  // shape by hand, from the first other line on by simdjson.
  void read_chunk(std::string_view text, std::uint64_t line) {
    std::size_t at = 0;
    while (at < text.size() && names_.mapped.empty()) {  // mapped fields: never mozart's shape
      const std::size_t took = read_own(text.substr(at), line);
      if (took == 0)
        break;
      at += took;
      ++line;
    }
    if (at < text.size())
      read_general(text.substr(at), line);
  }

 private:
  // The record on the line that begins `text` if it has mozart's own shape (or the line is
  // empty): the bytes it took, else 0.
  std::size_t read_own(std::string_view text, std::uint64_t line) {
    if (text.front() == '\n')
      return 1;
    Record record;
    record.line = line;
    bool has_gates = false;
    std::optional<std::string_view> domain;
    const std::size_t took = own_.read(text, record, has_gates, domain);
    if (took == 0)
      return 0;
    if (domain)
      record.domain = out_.intern_domain(*domain, line);
    out_.add(record, ids_, has_gates ? std::span<const double>(gates_) : std::span<const double>());
    return took;
  }

  // The records in `text` by simdjson.
  void read_general(std::string_view text, std::uint64_t line) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return;  // blank lines only, which simdjson calls an empty document
    simdjson::dom::document_stream stream;
    const std::size_t batch = std::max<std::size_t>(text.size() + 64, 4096);
    if (auto error =
            parser_
                .parse_many(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), batch)
                .get(stream))
      fail(line, "record", simdjson::error_message(error), "JSON lines");
    std::size_t counted = 0;  // newlines before `counted` are in `line`
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      const std::size_t at = it.current_index();
      line += count_lines(text.substr(counted, at - counted));
      counted = at;
      simdjson::dom::element doc;
      if (auto error = (*it).get(doc))
        fail(line, "record", simdjson::error_message(error), "one JSON object per line");
      read_record(doc, line);
    }
    if (stream.truncated_bytes() > 0) {
      const std::size_t at = text.size() - stream.truncated_bytes();
      fail(line + count_lines(text.substr(counted, at - counted)), "record", "(truncated)",
           "a complete JSON object on each line");
    }
  }

  [[noreturn]] void fail(std::uint64_t line, const std::string& field, const std::string& value,
                         const std::string& expected) const {
    throw InputError({source_, field, static_cast<int>(std::min<std::uint64_t>(line, INT32_MAX))},
                     value, expected);
  }

  std::int64_t integer(simdjson::dom::element value, std::uint64_t line, std::string_view key,
                       std::int64_t max) const {
    std::int64_t n = 0;
    if (value.get_int64().get(n) || n < 0 || n > max)
      fail(line, std::string(key), simdjson::minify(value),
           fmt::format("an integer in [0, {}]", max));
    return n;
  }

  template <typename T, typename Get>
  void read_array(simdjson::dom::element value, std::uint64_t line, std::string_view key,
                  std::vector<T>& into, Get get) const {
    simdjson::dom::array array;
    if (value.get_array().get(array))
      fail(line, std::string(key), "(not an array)", "an array");
    into.clear();
    for (simdjson::dom::element element : array)
      into.push_back(get(element));
  }

  void read_record(simdjson::dom::element doc, std::uint64_t line) {
    Record record;
    record.line = line;
    bool has_ids = false;
    bool has_gates = false;
    bool has_logits = false;
    simdjson::dom::object object;
    if (doc.get_object().get(object))
      fail(line, "record", "(not an object)", "one JSON object per line");
    const auto number_in = [&](const char* field) {
      return [this, line, field](simdjson::dom::element v) {
        double g = 0;
        if (v.get_double().get(g))
          fail(line, field, simdjson::minify(v), "a number");
        return g;
      };
    };
    for (const auto field : object) {
      const std::string_view key = field.key;
      const simdjson::dom::element value = field.value;
      if (is_any(key, names_.layer)) {
        record.layer = integer(value, line, key, 1 << 20);
      } else if (is_any(key, names_.token)) {
        record.token = integer(value, line, key, std::int64_t{1} << 40);
      } else if (is_any(key, names_.sequence)) {
        record.sequence = integer(value, line, key, 0xFFFFFFFFll);
      } else if (is_any(key, names_.position)) {
        record.position = integer(value, line, key, 0xFFFFFFFFll);
      } else if (is_any(key, names_.domain)) {
        std::string_view name;
        if (value.get_string().get(name))
          fail(line, std::string(key), "(not a string)", "a domain name");
        record.domain = out_.intern_domain(name, line);
      } else if (is_any(key, names_.experts)) {
        has_ids = true;
        read_array(value, line, key, ids_,
                   [&](simdjson::dom::element v) { return integer(v, line, "experts[]", 65535); });
      } else if (is_any(key, names_.gates)) {
        has_gates = true;
        read_array(value, line, key, gates_, number_in("gates[]"));
      } else if (is_any(key, names_.logits)) {
        has_logits = true;
        read_array(value, line, key, logits_, number_in("logits[]"));
      }
    }
    check_mapped(object, line);
    if (record.layer < 0)
      fail(line, names_.layer.front(), "(missing)", "a layer index");
    if (record.token < 0)
      fail(line, names_.token.front(), "(missing)", "a token index");
    if (has_logits && !has_ids)
      top_k_of_logits(line, has_gates);
    else if (!has_ids)
      fail(line, names_.experts.front(), "(missing)", "the token's top-k expert ids");
    if (has_gates && gates_.empty())
      fail(line, names_.gates.front(), "0 gates", "one gate per expert");
    out_.add(record, ids_, has_gates ? std::span<const double>(gates_) : std::span<const double>());
  }

  // Every field --fields names is in the record: a mapping to an absent field is a mistake.
  void check_mapped(simdjson::dom::object object, std::uint64_t line) const {
    for (const auto& [role, name] : names_.mapped) {
      simdjson::dom::element unused;
      if (object.at_key(name).get(unused))
        fail(line, name, "(missing)",
             fmt::format("the field --fields {}={} names in every record", role, name));
    }
  }

  // A router's logits, one per expert: the k largest (ties to the lower id), in rank order;
  // gates, unless the record has its own, are their softmax probabilities over all the experts.
  void top_k_of_logits(std::uint64_t line, bool& has_gates) {
    const auto k = static_cast<std::size_t>(names_.top_k);
    const auto experts = static_cast<std::size_t>(names_.logit_count);
    if (experts > 0 && logits_.size() != experts)
      fail(line, names_.logits.front(), fmt::format("{} logits", logits_.size()),
           fmt::format("one logit per expert ({} experts)", experts));
    if (logits_.size() < k)
      fail(line, names_.logits.front(), fmt::format("{} logits", logits_.size()),
           fmt::format("one logit per expert, at least top-k ({})", k));
    order_.resize(logits_.size());
    for (std::size_t e = 0; e < order_.size(); ++e)
      order_[e] = static_cast<std::int64_t>(e);
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k), order_.end(),
                      [&](std::int64_t a, std::int64_t b) {
                        const double x = logits_[static_cast<std::size_t>(a)];
                        const double y = logits_[static_cast<std::size_t>(b)];
                        return x > y || (x == y && a < b);
                      });
    ids_.assign(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k));
    if (has_gates)
      return;
    const double top = logits_[static_cast<std::size_t>(ids_.front())];
    double total = 0;
    for (const double x : logits_) {
      if (!std::isfinite(x))
        fail(line, names_.logits.front(), fmt::format("{}", x), "finite logits");
      total += std::exp(x - top);
    }
    gates_.clear();
    for (const auto e : ids_)
      gates_.push_back(std::exp(logits_[static_cast<std::size_t>(e)] - top) / total);
    has_gates = true;
  }

  const std::string& source_;
  Assembler& out_;
  const FieldNames& names_;
  simdjson::dom::parser parser_;
  std::vector<std::int64_t> ids_, order_;
  std::vector<double> gates_, logits_;
  OwnShape own_{ids_, gates_};
};

// Mozart's metadata line, if the first line of `chunk` is one: fills `trace` and returns the
// bytes it takes (0 when there is none).
std::size_t read_metadata(std::string_view chunk, std::uint64_t line, Trace& trace,
                          const std::string& source) {
  const auto start = chunk.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    return 0;
  const auto end = std::min(chunk.find('\n', start), chunk.size());
  const auto text = chunk.substr(start, end - start);
  if (text.find("\"mozart_trace\"") == std::string_view::npos)
    return 0;
  const auto meta = nlohmann::json::parse(text, nullptr, false);
  if (meta.is_discarded())
    throw InputError(
        {source, "metadata", static_cast<int>(line + count_lines(chunk.substr(0, start)))},
        "(unparseable)", "a JSON object");
  apply_metadata(meta, trace, source);
  return end;
}

}  // namespace

Trace read_jsonl(LineChunks& input, const ReadOptions& options) {
  std::string_view chunk = input.next();
  Trace trace;
  const std::size_t skip = read_metadata(chunk, input.first_line(), trace, input.source());
  const FieldNames names(options, input.source(), trace.shape.experts);
  Assembler records(std::move(trace), options, input.source(), "token_idx");
  Reader reader(input.source(), records, names);
  ProgressTicker ticker(options.progress, input.total_bytes(), 1);
  reader.read_chunk(chunk.substr(skip), input.first_line() + count_lines(chunk.substr(0, skip)));
  for (;;) {
    records.read_so_far(input.bytes_done(), input.total_bytes());
    ticker.at(input.bytes_done());
    if ((chunk = input.next()).empty())
      break;
    reader.read_chunk(chunk, input.first_line());
  }
  ticker.finish();
  return records.finish();
}

namespace {

// Text that repeats, copied by a fixed number of bytes (inlined, no call) when it is no longer:
// the copy writes past the text's end, into room the writer reserved.
template <std::size_t Fixed>
class Padded {
 public:
  explicit Padded(std::string_view text) : text_(text), size_(text.size()) {
    text_.resize(std::max(text.size(), Fixed));
  }
  void put(char*& at) const {
    std::memcpy(at, text_.data(), Fixed);
    if (size_ > Fixed)
      std::memcpy(at + Fixed, text_.data() + Fixed, size_ - Fixed);
    at += size_;
  }

 private:
  std::string text_;
  std::size_t size_;
};

// Each expert id after its separator (", 17"): one 8-byte copy per id; the first of a list skips
// the separator.
class IdTexts {
 public:
  explicit IdTexts(int experts)
      : text_(static_cast<std::size_t>(experts) + 1), size_(text_.size()) {
    for (std::size_t e = 0; e + 1 < text_.size(); ++e) {
      const auto digits = fmt::format_int(e);
      text_[e][0] = ',';
      text_[e][1] = ' ';
      std::memcpy(text_[e].data() + 2, digits.data(), digits.size());
      size_[e] = static_cast<std::uint8_t>(2 + digits.size());
    }
  }
  void list(char*& at, const ExpertId* ids, std::size_t k) const {
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t skip = j == 0 ? 2 : 0;
      std::memcpy(at, text_[ids[j]].data() + skip, 8);  // the last slot is room for the skip
      at += size_[ids[j]] - skip;
    }
  }

 private:
  std::vector<std::array<char, 8>> text_;  // ", 65535" at most
  std::vector<std::uint8_t> size_;
};

}  // namespace

void write_jsonl(const Trace& trace, Sink& sink, const Progress& progress) {
  BufferedWriter out(sink);
  out.append(metadata(trace).dump());
  out.append("\n");
  // What repeats is formatted once: each layer's opening, each domain's JSON string, each id's
  // text, and each token's fields.
  std::vector<Padded<32>> opening;  // `{"layer": 1048576, "token_idx": ` at most
  for (const int id : trace.shape.layer_ids)
    opening.emplace_back(fmt::format("{{\"layer\": {}, \"token_idx\": ", id));
  std::vector<std::string> domains;
  for (const auto& name : trace.domain_names)
    domains.push_back(", \"domain\": " + nlohmann::json(name).dump());
  std::size_t longest = 0;
  for (const auto& d : domains)
    longest = std::max(longest, d.size());
  const IdTexts ids(trace.num_experts());
  const bool gates = !trace.gates.empty();
  const auto k = static_cast<std::size_t>(trace.top_k());
  const std::size_t room = 256 + longest + k * (8 + 2 + kMaxFloatText);
  const auto gate = [](Cursor& c, float g) { c.number(g); };
  char fields[128];  // a token's fields: 73 bytes at most, then room for a fixed copy
  ProgressTicker ticker(progress, trace.records(), kRecordsPerTick);
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    Cursor f(fields);
    f.integer(t);
    f.text(", \"seq_id\": ");
    f.integer(trace.sequence[t]);
    f.text(", \"position\": ");
    f.integer(trace.position[t]);
    f.text(", \"experts\": [");
    const auto token = static_cast<std::size_t>(f.end() - fields);
    const std::string* domain = trace.domain.empty() ? nullptr : &domains[trace.domain[t]];
    for (int l = 0; l < trace.layers(); ++l) {
      char* at = out.reserve(room);
      opening[static_cast<std::size_t>(l)].put(at);
      std::memcpy(at, fields, 80);  // a fixed copy (inlined) past the fields' end
      at += token;
      ids.list(at, trace.choices(l, t).data(), k);
      Cursor c(at);
      c.text("]");
      if (gates) {
        c.text(", \"gating_probs\": [");
        c.joined(trace.gates.data() + trace.offset(l, t), k, ", ", gate);
        c.text("]");
      }
      if (domain != nullptr)
        c.text(*domain);
      c.text("}\n");
      out.commit(c.end());
    }
    out.flush_if_full();
    ticker.at((t + 1) * static_cast<std::size_t>(trace.layers()));
  }
  out.flush();
  ticker.finish();
}

}  // namespace mozart::trace::detail
