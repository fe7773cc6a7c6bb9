// The outcome of an operation that can fail with a text: the reply a client gets, or the reason
// a log line gives. [[nodiscard]], so that a failure cannot be dropped by accident; success has
// no text, and a failure always has one.
#pragma once

#include <string>
#include <utility>

namespace tfproxy {

class [[nodiscard]] Status {
 public:
  // Success.
  Status() = default;
  static Status failure(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  // The failure's text; empty on success.
  const std::string& message() const { return message_; }

  // For tests and logs: "OK" or the failure's text.
  std::string toString() const { return failed_ ? message_ : "OK"; }
  bool operator==(const Status&) const = default;

 private:
  explicit Status(std::string message) : message_(std::move(message)), failed_(true) {}
  std::string message_;
  bool failed_ = false;
};

}  // namespace tfproxy
