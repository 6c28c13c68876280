# Finds the GPU compilers. Both GPU plugins are optional parts of the normal
# build: each builds where its compiler exists and is skipped with a message
# where not, so a CPU-only machine builds everything else.
#
#   HEARTH_CUDA: nvcc found (CMake's CUDA language, here /usr/local/cuda by default)
#   HEARTH_HIPCC: Debian's hipcc, called through custom commands (CMake's HIP
#                 language does not work with Debian's layout; see TOOLCHAIN.md)
option(HEARTH_WITH_CUDA "Build the CUDA backend plugin where nvcc exists" ON)
option(HEARTH_WITH_HIP "Build the HIP (AMD) backend plugin where hipcc exists" ON)

set(HEARTH_CUDA OFF)
if(HEARTH_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Real code for Ampere (sm_80, also runs on 8.6/8.9) and Hopper, plus
    # Hopper's PTX so newer GPUs can compile it at load time.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
    endif()
    enable_language(CUDA)
    set(HEARTH_CUDA ON)
    message(STATUS "CUDA plugin: building with ${CMAKE_CUDA_COMPILER} for ${CMAKE_CUDA_ARCHITECTURES}")
  else()
    message(STATUS "CUDA plugin: skipped (no nvcc found; install the CUDA toolkit or set CMAKE_CUDA_COMPILER)")
  endif()
else()
  message(STATUS "CUDA plugin: skipped (HEARTH_WITH_CUDA=OFF)")
endif()

set(HEARTH_HIPCC "")
if(HEARTH_WITH_HIP)
  find_program(HEARTH_HIPCC_PROGRAM hipcc)
  if(HEARTH_HIPCC_PROGRAM)
    set(HEARTH_HIPCC "${HEARTH_HIPCC_PROGRAM}")
    set(HEARTH_HIP_ARCHS "gfx90a;gfx1030" CACHE STRING "AMD GPU targets of the HIP plugin (Debian 12's ROCm supports these)")
    message(STATUS "HIP plugin: building with ${HEARTH_HIPCC} for ${HEARTH_HIP_ARCHS}")
  else()
    message(STATUS "HIP plugin: skipped (no hipcc found; apt-get install hipcc)")
  endif()
else()
  message(STATUS "HIP plugin: skipped (HEARTH_WITH_HIP=OFF)")
endif()
