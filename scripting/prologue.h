// The library prologue (`#!js api_version=1.0 name=lib`, spec §2.1-2.4), parsed without V8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tfproxy::scripting {

struct Prologue {
  std::string engine;
  std::string name;
  int api_major = 0;
  int api_minor = 0;
  std::string apiVersion() const {
    return std::to_string(api_major) + "." + std::to_string(api_minor);
  }
};

// Parses the first line of `code` with upstream's exact rules and error precedence. On error
// returns nullopt and sets `error` to the message (without "Failed to compile library: ").
// The engine check ("Unknown backend <engine>") and the name check are included; the
// supported-version check is not (it comes after compilation, spec §2.5).
std::optional<Prologue> parsePrologue(std::string_view code, std::string* error);

// True for the API versions this proxy provides (1.0 and 1.1).
bool apiVersionSupported(const Prologue& p);
std::string unsupportedApiVersion(const Prologue& p);

// Name rules shared by libraries, functions and triggers: non-empty, ASCII letters, digits and
// '_'. Returns the reason ("Empty name is not allowed", "Unallowed char was given 'x'") or
// nullopt when the name is fine.
std::optional<std::string> nameProblem(std::string_view name);

}  // namespace tfproxy::scripting
