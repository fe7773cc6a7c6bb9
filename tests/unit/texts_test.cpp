// Every client-visible text has exactly one home: each string written in a module's errors.h
// appears nowhere else in the product's code (comments aside), and each upstream text that
// docs/spec.md lists is written in exactly one errors.h.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

const char* const kModules[] = {"base",    "resp",      "config",    "io",
                                "backend", "scripting", "functions", "server"};

// The file without its // comments.
std::string code(const fs::path& p) {
  std::ifstream in(p);
  std::string out, line;
  while (std::getline(in, line)) {
    for (size_t at = line.find("//"); at != std::string::npos; at = line.find("//", at + 2)) {
      if (at == 0 || line[at - 1] == ' ') {
        line.resize(at);
        break;
      }
    }
    out += line + "\n";
  }
  return out;
}

std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const char* m : kModules) {
    for (const auto& e : fs::recursive_directory_iterator(fs::path(TFPROXY_SOURCE_DIR) / m)) {
      const auto ext = e.path().extension();
      if (ext == ".h" || ext == ".cpp" || ext == ".inc") out.push_back(e.path());
    }
  }
  return out;
}

// The string literals of `text` of at least 12 characters, quotes included (a literal is
// found from its opening quote, so the text between two literals is never taken for one).
std::vector<std::string> literals(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\'') {  // a character literal such as '"'
      i = text.find('\'', i + (text[i + 1] == '\\' ? 3 : 2));
      if (i == std::string::npos) break;
      continue;
    }
    if (text[i] != '"') continue;
    size_t end = i + 1;
    while (end < text.size() && text[end] != '"' && text[end] != '\n') {
      end += text[end] == '\\' ? 2 : 1;
    }
    if (end >= text.size() || text[end] != '"') break;
    if (end - i - 1 >= 12) out.push_back(text.substr(i, end - i + 1));
    i = end;
  }
  return out;
}

// The values of the string constants of an errors.h: adjacent literals joined, escapes undone.
std::vector<std::string> constants(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  bool open = false;  // the last token was a literal: the next one continues it
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\'') {
      i = text.find('\'', i + (text[i + 1] == '\\' ? 3 : 2));
      if (i == std::string::npos) break;
      continue;
    }
    if (c == '"') {
      size_t end = i + 1;
      while (end < text.size() && text[end] != '"') {
        if (text[end] == '\\') ++end;
        current += text[end];
        ++end;
      }
      open = true;
      i = end;
      continue;
    }
    if (c == ' ' || c == '\n') continue;
    if (open) out.push_back(std::exchange(current, {}));
    open = false;
  }
  return out;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(Texts, EachErrorTextHasOneHome) {
  const std::vector<fs::path> files = sources();
  std::vector<std::pair<fs::path, std::string>> contents;  // path, code
  for (const auto& f : files) contents.emplace_back(f, code(f));
  size_t checked = 0;
  for (const auto& [path, text] : contents) {
    if (path.filename() != "errors.h") continue;
    for (const std::string& quoted : literals(text)) {
      size_t elsewhere = 0;
      std::string where;
      for (const auto& [other, body] : contents) {
        if (other == path) continue;
        size_t n = count(body, quoted);
        if (n > 0) where += " " + other.lexically_relative(TFPROXY_SOURCE_DIR).string();
        elsewhere += n;
      }
      EXPECT_EQ(elsewhere, 0u) << quoted << " of " << path.lexically_relative(TFPROXY_SOURCE_DIR)
                               << " also appears in" << where;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50u) << "the errors headers were not found";
}

// Every upstream text docs/spec.md lists (Appendix A) is one constant of exactly one errors.h.
TEST(Texts, EachUpstreamTextOfTheSpecIsWrittenOnce) {
  std::vector<std::string> values;
  for (const auto& f : sources()) {
    if (f.filename() != "errors.h") continue;
    for (std::string& v : constants(code(f))) values.push_back(std::move(v));
  }
  std::ifstream spec(fs::path(TFPROXY_SOURCE_DIR) / "docs" / "spec.md");
  std::string line;
  bool appendix = false;
  size_t checked = 0;
  while (std::getline(spec, line)) {
    if (line.rfind("## ", 0) == 0) appendix = line.rfind("## Appendix A", 0) == 0;
    if (!appendix || line.rfind("- `", 0) != 0) continue;
    const std::string text = line.substr(3, line.rfind('`') - 3);
    size_t homes = 0;
    for (const std::string& v : values) homes += v.find(text) != std::string::npos ? 1 : 0;
    EXPECT_EQ(homes, 1u) << text;
    ++checked;
  }
  EXPECT_GT(checked, 40u) << "docs/spec.md has no Appendix A list";
}

}  // namespace
