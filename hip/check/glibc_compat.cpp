// arc4random for the GPU check program. The program links libstdc++
// statically so it runs where Debian's libraries are absent, but GCC 12's
// libstdc++.a refers to arc4random (std::random_device), which glibc only
// has since 2.36; GPU machines often run an older one (Ubuntu 22.04: 2.35).
// Defining it here resolves that reference inside the program, so it needs
// no glibc newer than 2.35. Nothing in the program draws from it.
#include <sys/random.h>

#include <cstdint>

extern "C" uint32_t arc4random(void) {
  uint32_t v = 0;
  while (getrandom(&v, sizeof(v), 0) != static_cast<ssize_t>(sizeof(v))) {
  }
  return v;
}
