# How the CUDA kernels (kernels/apply.cu) become files the runtime loads; needs no GPU and no CUDA toolkit.
#
#   hyprstream_kernels.ptx        clang++-14, PTX ISA 7.0 for sm_80. Always built: the fallback that any driver since
#                                 CUDA 11.0 JIT-compiles for sm_80 and newer.
#   hyprstream_kernels.fatbin     nvcc: SASS for sm_80 (A100) and sm_90 (H100/H200) + compute_80 PTX for newer GPUs.
#                                 Loaded first, so those GPUs start without a JIT. Only where nvcc works.
#   hyprstream_kernels.nvcc.ptx   nvcc's PTX, for the launch-table test and the ptxas check (kernels/check_ptx.sh).
#
# nvcc is used only if it builds apply.cu at configure time with some host compiler: Debian 12's nvcc (CUDA 11.8)
# refuses the system g++ 12 but accepts clang++-14. If no host compiler works, the build says so and goes on with
# clang's PTX, so a CUDA toolkit on the machine never breaks the build.
option(HS_NVCC_KERNELS "also build the kernels with nvcc (fatbin + nvcc PTX) when nvcc is found and works" ON)
set(HS_NVCC_CCBIN "" CACHE STRING "nvcc's host compiler (-ccbin); empty: the first that works of nvcc's default, clang++-14, g++-13..9")

set(HS_PTX ${CMAKE_CURRENT_BINARY_DIR}/hyprstream_kernels.ptx)
set(HS_NVCC_PTX ${CMAKE_CURRENT_BINARY_DIR}/hyprstream_kernels.nvcc.ptx)
set(HS_FATBIN ${CMAKE_CURRENT_BINARY_DIR}/hyprstream_kernels.fatbin)
set(HS_KERNEL_CU ${CMAKE_CURRENT_SOURCE_DIR}/kernels/apply.cu)
set(HS_KERNEL_SOURCES ${HS_KERNEL_CU} ${CMAKE_CURRENT_SOURCE_DIR}/kernels/cuda_prelude.h)
find_path(HS_NANOVDB_INCLUDE nanovdb/NanoVDB.h PATHS /usr/include /usr/local/include ${OpenVDB_INCLUDE_DIR})
set(HS_KERNEL_FLAGS -std=c++17 -O3 -DNDEBUG -I${HS_NANOVDB_INCLUDE})
set(HS_FATBIN_ARCHS -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
                    -gencode arch=compute_80,code=compute_80)
set(HS_KERNEL_OUTPUTS "")

# ---- clang: PTX without CUDA headers or libdevice (cuda_prelude.h supplies what those would) ----
find_program(HS_CLANG_CUDA NAMES clang++-14 clang++)
if(HS_CLANG_CUDA)
  # -Wno-unknown-cuda-version: clang-14 notices an installed CUDA 11.8 it does not know; it uses none of it.
  add_custom_command(OUTPUT ${HS_PTX}
    COMMAND ${HS_CLANG_CUDA} -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib
            -Xclang -target-feature -Xclang +ptx70 -Wno-unknown-cuda-version -D__CUDACC__ -DHS_NOCUDAINC
            ${HS_KERNEL_FLAGS} -S ${HS_KERNEL_CU} -o ${HS_PTX}
    DEPENDS ${HS_KERNEL_SOURCES} COMMENT "Compiling the CUDA kernels to PTX with clang" VERBATIM)
  list(APPEND HS_KERNEL_OUTPUTS ${HS_PTX})
endif()

# ---- nvcc: find a host compiler it accepts by building the real fatbin once ----
set(HS_NVCC_HOST "")
if(HS_NVCC_KERNELS)
  find_program(HS_NVCC nvcc)
endif()
if(HS_NVCC_KERNELS AND HS_NVCC)
  execute_process(COMMAND ${HS_NVCC} --version OUTPUT_VARIABLE _nvcc_version ERROR_QUIET)
  string(REGEX MATCH "release [0-9.]+" _nvcc_version "${_nvcc_version}")
  if(NOT HS_NVCC_CCBIN STREQUAL "")
    set(_hosts ${HS_NVCC_CCBIN})
  else()
    set(_hosts default)
    foreach(_c clang++-14 g++-13 g++-12 g++-11 g++-10 g++-9)
      string(MAKE_C_IDENTIFIER "HS_HOST_${_c}" _var)
      find_program(${_var} ${_c})
      mark_as_advanced(${_var})
      if(${_var})
        list(APPEND _hosts ${${_var}})
      endif()
    endforeach()
  endif()
  set(_check ${CMAKE_CURRENT_BINARY_DIR}/nvcc-check)
  file(MAKE_DIRECTORY ${_check})
  set(_tried "")
  foreach(_host IN LISTS _hosts)
    set(_ccbin "")
    if(NOT _host STREQUAL "default")
      set(_ccbin -ccbin ${_host})
    endif()
    execute_process(COMMAND ${HS_NVCC} ${_ccbin} -fatbin ${HS_FATBIN_ARCHS} ${HS_KERNEL_FLAGS} ${HS_KERNEL_CU} -o ${_check}/apply.fatbin
                    WORKING_DIRECTORY ${_check} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err TIMEOUT 600)
    if(_rc EQUAL 0)
      set(HS_NVCC_HOST ${_host})
      break()
    endif()
    string(REGEX MATCH "[^\n]*(error|fatal|ERROR)[^\n]*" _first "${_err}${_out}")  # the line that says why
    if(NOT _first)
      string(REGEX MATCH "[^\n]+" _first "${_err}${_out}")
    endif()
    string(STRIP "${_first}" _first)
    string(REPLACE ";" "," _first "${_first}")  # a CMake list separator otherwise
    list(APPEND _tried "${_host}: ${_first}")
  endforeach()
  file(REMOVE_RECURSE ${_check})
  if(NOT HS_NVCC_HOST)
    list(JOIN _tried "\n    " _tried)
    message(WARNING "hyprstream kernels: nvcc (${HS_NVCC}, ${_nvcc_version}) cannot build kernels/apply.cu for sm_80 and sm_90 "
            "with any host compiler tried:\n    ${_tried}\nBuilding clang's PTX only (no fatbin: GPUs JIT-compile the PTX when it "
            "loads). Set HS_NVCC_CCBIN to a host compiler this nvcc supports, or HS_NVCC_KERNELS=OFF to skip nvcc.")
  endif()
endif()

if(HS_NVCC_HOST)
  set(_ccbin "")
  if(NOT HS_NVCC_HOST STREQUAL "default")
    set(_ccbin -ccbin ${HS_NVCC_HOST})
  endif()
  if(NOT HS_CLANG_CUDA)
    set(HS_NVCC_PTX ${HS_PTX})  # no clang: nvcc's PTX is the fallback
  endif()
  add_custom_command(OUTPUT ${HS_NVCC_PTX}
    COMMAND ${HS_NVCC} ${_ccbin} -ptx -arch=compute_80 ${HS_KERNEL_FLAGS} ${HS_KERNEL_CU} -o ${HS_NVCC_PTX}
    DEPENDS ${HS_KERNEL_SOURCES} COMMENT "Compiling the CUDA kernels to PTX with nvcc" VERBATIM)
  add_custom_command(OUTPUT ${HS_FATBIN}
    COMMAND ${HS_NVCC} ${_ccbin} -fatbin ${HS_FATBIN_ARCHS} ${HS_KERNEL_FLAGS} ${HS_KERNEL_CU} -o ${HS_FATBIN}
    DEPENDS ${HS_KERNEL_SOURCES} COMMENT "Compiling the CUDA kernels to a fatbin (sm_80, sm_90, compute_80) with nvcc" VERBATIM)
  list(APPEND HS_KERNEL_OUTPUTS ${HS_NVCC_PTX} ${HS_FATBIN})
  set(_host_words "host compiler ${HS_NVCC_HOST}")
  if(HS_NVCC_HOST STREQUAL "default")
    set(_host_words "its default host compiler")
  endif()
  message(STATUS "hyprstream kernels: nvcc ${_nvcc_version} (${HS_NVCC}) with ${_host_words}: "
                 "fatbin (sm_80, sm_90 SASS + compute_80 PTX) and nvcc PTX; clang PTX as the fallback")
else()
  file(REMOVE ${HS_FATBIN} ${HS_NVCC_PTX})  # from an earlier configure that used nvcc: never ship a stale fatbin
  if(NOT HS_NVCC_KERNELS)
    message(STATUS "hyprstream kernels: clang PTX only (HS_NVCC_KERNELS=OFF); GPUs JIT-compile it when it loads")
  elseif(NOT HS_NVCC)
    message(STATUS "hyprstream kernels: clang PTX only (no nvcc found); GPUs JIT-compile it when it loads")
  endif()  # (an nvcc that fails was reported above)
endif()

list(REMOVE_DUPLICATES HS_KERNEL_OUTPUTS)
if(HS_KERNEL_OUTPUTS)
  add_custom_target(hyprstream_kernels ALL DEPENDS ${HS_KERNEL_OUTPUTS})
else()
  message(WARNING "hyprstream kernels: neither clang++-14 nor a working nvcc found: the CUDA kernels are not built; "
                  "the CPU backend still works")
endif()
