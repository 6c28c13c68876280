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
inline constexpr int kExitUnreachable = 3;  // remote verbs: hearthd's admin socket cannot be reached

using Args = std::vector<std::string>;

int cmd_bench(const Args& args);
int cmd_inspect(const Args& args);
int cmd_keys(const Args& args);
int cmd_generate(const Args& args);
int cmd_tokenize(const Args& args);
int cmd_synth(const Args& args);
int cmd_quantize(const Args& args);
int cmd_template(const Args& args);
// Remote verbs (hearthd's admin socket; see ctl/remote.h).
int cmd_status(const Args& args);
int cmd_reload(const Args& args);
int cmd_drain(const Args& args);
int cmd_resume(const Args& args);
int cmd_models(const Args& args);
int cmd_adapters(const Args& args);
int cmd_backends(const Args& args);
int cmd_keys_remote(const Args& args);
int cmd_chat(const Args& args);

}  // namespace hearth::ctl
