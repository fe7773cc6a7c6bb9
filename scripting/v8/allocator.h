// The ArrayBuffer allocator of every library: ArrayBuffer memory lives outside the V8 heap, so
// it has a budget of its own (v8-maxmemory for all libraries together).
#pragma once

#include <v8.h>

#include <cstddef>
#include <memory>

namespace tfproxy::scripting {

std::unique_ptr<v8::ArrayBuffer::Allocator> newBudgetedAllocator(size_t budget);

}  // namespace tfproxy::scripting
