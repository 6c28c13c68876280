// The verbs of hearthctl. Each takes the arguments after the verb, prints
// its result on stdout and diagnostics on stderr, and returns the process
// exit code: 0 success, 1 failure, 2 usage error.
#pragma once

#include <string>
#include <vector>

namespace hearth::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

using Args = std::vector<std::string>;

int cmd_bench(const Args& args);
int cmd_inspect(const Args& args);
int cmd_keys(const Args& args);
int cmd_generate(const Args& args);
int cmd_tokenize(const Args& args);
int cmd_synth(const Args& args);
int cmd_quantize(const Args& args);
int cmd_template(const Args& args);

}  // namespace hearth::ctl
