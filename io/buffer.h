// A contiguous byte buffer for socket reads: bytes are appended at the end and consumed from
// the front; space is reclaimed by moving the unconsumed rest to the front.
//
//   data_: [ consumed | unconsumed (view) | free (prepare) ]
//          0          begin_              end_             capacity
#pragma once

#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace tfproxy::io {

class Buffer {
 public:
  std::string_view view() const { return {data_.data() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Free space of at least `min` bytes after the unconsumed ones.
  std::span<char> prepare(size_t min = 16 * 1024) {
    if (data_.size() - end_ < min) {
      if (begin_ > 0) {
        std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (data_.size() - end_ < min) data_.resize(std::max(data_.size() * 2, end_ + min));
    }
    return {data_.data() + end_, data_.size() - end_};
  }
  void commit(size_t n) { end_ += n; }

  // Gives memory back after a burst (a large value), keeping the unconsumed bytes.
  void shrink(size_t keep_capacity) {
    if (data_.size() <= keep_capacity || size() > keep_capacity / 2) return;
    std::vector<char> smaller(keep_capacity);
    std::memcpy(smaller.data(), data_.data() + begin_, size());
    end_ = size();
    begin_ = 0;
    data_.swap(smaller);
  }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tfproxy::io
