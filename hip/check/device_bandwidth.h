// The memory bandwidth of GPU 0, two ways: the peak from the device's memory
// clock and bus width, and a measured device-to-device copy (what a kernel
// streaming weights can hope for). Decode efficiency is reported against both.
#pragma once

#include <string>

#include "common/status.h"

namespace hearth::gpucheck {

struct DeviceBandwidth {
  std::string device;    // name and memory size
  double peak_gb_s = 0;  // 0 when the runtime does not report it
  double copy_gb_s = 0;  // read + write bytes of a large copy per second
};

Result<DeviceBandwidth> measure_device_bandwidth();

}  // namespace hearth::gpucheck
