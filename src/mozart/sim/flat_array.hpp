// A growable array of plain values, for the task graph's columns (a step's graph holds millions
// of records, hundreds of megabytes in all).
//
// A std::vector that doubles copies what it holds into fresh pages and frees the old ones: for
// these columns most of the cost of building a graph was the kernel zeroing pages that a copy
// then filled. Large arrays here live in their own mapping, which grows with mremap (the kernel
// moves the pages, nothing is copied or zeroed again) and asks for transparent huge pages (one
// fault per 2 MiB rather than per 4 KiB). Small ones live on the heap.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

#include <sys/mman.h>

namespace mozart::sim {

template <typename T>
class FlatArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "FlatArray moves its elements as bytes");

 public:
  FlatArray() = default;
  FlatArray(const FlatArray& other) { append(other.data(), other.size()); }
  FlatArray(FlatArray&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  FlatArray& operator=(FlatArray other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
    return *this;
  }
  ~FlatArray() { release(data_, capacity_); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }
  const T& back() const { return data_[size_ - 1]; }

  void reserve(std::size_t n) {
    if (n > capacity_)
      grow(n);
  }

  // New elements are value-initialised (their default member initialisers apply).
  void resize(std::size_t n) {
    reserve(n);
    for (std::size_t i = size_; i < n; ++i)
      ::new (static_cast<void*>(data_ + i)) T();
    size_ = n;
  }

  void push_back(const T& value) {
    if (size_ == capacity_) {
      const T copy = value;  // `value` may be an element, which growing moves
      grow(size_ + 1);
      data_[size_++] = copy;
      return;
    }
    data_[size_++] = value;
  }

  T& emplace_back() {
    if (size_ == capacity_)
      grow(size_ + 1);
    return *::new (static_cast<void*>(data_ + size_++)) T();
  }

  // Appends `count` values from `from`, which may point into this array.
  void append(const T* from, std::size_t count) {
    if (count == 0)
      return;
    if (size_ + count > capacity_) {
      const bool inside = data_ != nullptr && from >= data_ && from < data_ + size_;
      const std::size_t at = inside ? std::size_t(from - data_) : 0;
      grow(size_ + count);
      if (inside)
        from = data_ + at;
    }
    std::memmove(data_ + size_, from, count * sizeof(T));
    size_ += count;
  }

 private:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  static std::size_t bytes_of(std::size_t capacity) { return capacity * sizeof(T); }
  static bool mapped(std::size_t capacity) { return bytes_of(capacity) >= kHugePage; }
  // The length of a mapping that holds `capacity` elements: whole huge pages.
  static std::size_t mapping_bytes(std::size_t capacity) {
    return (bytes_of(capacity) + kHugePage - 1) / kHugePage * kHugePage;
  }

  static void release(T* data, std::size_t capacity) noexcept {
    if (data == nullptr)
      return;
    if (mapped(capacity))
      ::munmap(data, mapping_bytes(capacity));
    else
      std::free(data);
  }

  // Room for at least `need` elements: twice the capacity or more (a mapping's, all that its
  // whole huge pages hold).
  void grow(std::size_t need) {
    if (need > std::numeric_limits<std::size_t>::max() / 2 / sizeof(T))
      throw std::bad_alloc();
    std::size_t capacity = std::max({need, 2 * capacity_, std::size_t{16}});
    if (!mapped(capacity)) {
      void* p = std::realloc(data_, bytes_of(capacity));
      if (p == nullptr)
        throw std::bad_alloc();
      data_ = static_cast<T*>(p);
      capacity_ = capacity;
      return;
    }
    const std::size_t bytes = mapping_bytes(capacity);
    void* p = MAP_FAILED;
    if (mapped(capacity_)) {
      p = ::mremap(data_, mapping_bytes(capacity_), bytes, MREMAP_MAYMOVE);
    } else {
      p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED && size_ > 0)
        std::memcpy(p, data_, bytes_of(size_));
      if (p != MAP_FAILED)
        std::free(data_);
    }
    if (p == MAP_FAILED)
      throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
    data_ = static_cast<T*>(p);
    capacity_ = bytes / sizeof(T);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace mozart::sim
