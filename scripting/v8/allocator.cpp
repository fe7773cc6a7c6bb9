// Compiled without RTTI: libnode is, so a subclass of a V8 interface has no typeinfo to link.
#include "scripting/v8/allocator.h"

#include <atomic>
#include <cstdlib>

namespace tfproxy::scripting {
namespace {

// ArrayBuffer memory lives outside the V8 heap: it has a budget of its own, v8-maxmemory for
// all libraries together. An allocation past it fails, and V8 throws a RangeError ("Array
// buffer allocation failed") into the JavaScript that asked.
class BudgetedAllocator : public v8::ArrayBuffer::Allocator {
 public:
  explicit BudgetedAllocator(size_t budget) : budget_(budget) {}
  void* Allocate(size_t length) override {
    if (!reserve(length)) return nullptr;
    void* data = std::calloc(length == 0 ? 1 : length, 1);
    if (data == nullptr) used_.fetch_sub(length);
    return data;
  }
  void* AllocateUninitialized(size_t length) override {
    if (!reserve(length)) return nullptr;
    void* data = std::malloc(length == 0 ? 1 : length);
    if (data == nullptr) used_.fetch_sub(length);
    return data;
  }
  void Free(void* data, size_t length) override {
    std::free(data);
    used_.fetch_sub(length);
  }

 private:
  bool reserve(size_t length) {
    size_t used = used_.load();
    do {
      if (length > budget_ || used > budget_ - length) return false;
    } while (!used_.compare_exchange_weak(used, used + length));
    return true;
  }
  const size_t budget_;
  std::atomic<size_t> used_{0};
};

}  // namespace

std::unique_ptr<v8::ArrayBuffer::Allocator> newBudgetedAllocator(size_t budget) {
  return std::make_unique<BudgetedAllocator>(budget);
}

}  // namespace tfproxy::scripting
