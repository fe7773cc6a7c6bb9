// Runs the fuzz target without libFuzzer (any compiler): each file named on the command line
// once (to replay a crash), or else a bounded number of inputs mutated from RESP snippets by a
// seeded generator -- `resp_fuzz_driver [count] [seed]`, 200000 and 1 by default.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::vector<std::string> kSnippets = {
    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    "PING\r\n",
    "SET k \"a b\"\r\n",
    "+OK\r\n",
    "-ERR x\r\n",
    ":12\r\n",
    "$5\r\nhello\r\n",
    "$-1\r\n",
    "*-1\r\n",
    "*0\r\n",
    "%1\r\n+a\r\n:1\r\n",
    "~2\r\n#t\r\n,1.5\r\n",
    ">3\r\n+message\r\n+ch\r\n+m\r\n",
    "|1\r\n+k\r\n+v\r\n+x\r\n",
    "=15\r\ntxt:Some string\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "_\r\n",
    "$?\r\n;4\r\nHell\r\n;0\r\n",
    "*?\r\n:1\r\n.\r\n",
    std::string("\0\r\n", 3),
    "'unbalanced\r\n",
    "\"\\x41\\n\"\r\n",
    "*1\r\n$4\r\nPI",
};

std::string mutate(std::mt19937_64& rng) {
  std::string s;
  const int parts = 1 + static_cast<int>(rng() % 6);
  for (int i = 0; i < parts; ++i) s += kSnippets[rng() % kSnippets.size()];
  const int edits = static_cast<int>(rng() % 5);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0:
        s[at] = static_cast<char>(rng());
        break;
      case 1:
        s.erase(at, 1 + rng() % 4);
        break;
      case 2:
        s.insert(at, 1, "*$\r\n:-0123456789\0 \"'"[rng() % 20]);
        break;
      case 3:
        s.insert(at, s.substr(rng() % s.size(), rng() % 16));
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::ifstream(argv[1]).good()) {
    for (int i = 1; i < argc; ++i) {
      std::ifstream f(argv[i], std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    }
    std::printf("%d inputs replayed\n", argc - 1);
    return 0;
  }
  const long count = argc > 1 ? std::atol(argv[1]) : 200000;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  for (long i = 0; i < count; ++i) {
    std::string input = mutate(rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("%ld inputs, no failure\n", count);
  return 0;
}
