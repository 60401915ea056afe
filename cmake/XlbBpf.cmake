# SPDX-License-Identifier: Apache-2.0
# xlb_add_bpf_program(): clang -target bpf -> bpftool gen object -> bpftool gen skeleton -> INTERFACE lib.
find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin REQUIRED)

# xlb_add_bpf_program(NAME <target> SOURCE <file.bpf.c> SKEL_NAME <name> [DEPENDS ...] [CFLAGS ...])
# Produces ${NAME}.bpf.o and ${SKEL_NAME}.skel.h; target ${NAME} is an INTERFACE library exposing the
# skeleton header directory.
function(xlb_add_bpf_program)
  cmake_parse_arguments(ARG "" "NAME;SOURCE;SKEL_NAME" "DEPENDS;CFLAGS" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR})
  set(tmp_obj ${out}/${ARG_NAME}.tmp.o)
  set(obj ${out}/${ARG_NAME}.bpf.o)
  set(skel ${out}/${ARG_SKEL_NAME}.skel.h)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/lib/*.h ${CMAKE_SOURCE_DIR}/bpf/include/xlb/*.h)
  separate_arguments(extra UNIX_COMMAND "${XLB_BPF_EXTRA_CFLAGS}")
  add_custom_command(
    OUTPUT ${obj} ${skel}
    COMMAND ${XLB_BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86
            -Wall -Werror -Wno-unused-function
            -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR}/bpf
            -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE} ${ARG_CFLAGS} ${extra}
            -c ${ARG_SOURCE} -o ${tmp_obj}
    COMMAND ${BPFTOOL} gen object ${obj} ${tmp_obj}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${ARG_SKEL_NAME} > ${skel}
    DEPENDS ${ARG_SOURCE} ${bpf_headers} ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_NAME}: ${ARG_SOURCE}"
    VERBATIM)
  add_custom_target(${ARG_NAME}_gen DEPENDS ${obj} ${skel})
  add_library(${ARG_NAME} INTERFACE)
  add_dependencies(${ARG_NAME} ${ARG_NAME}_gen)
  target_include_directories(${ARG_NAME} INTERFACE ${out})
  target_link_libraries(${ARG_NAME} INTERFACE PkgConfig::LIBBPF xlb_abi)
  set_property(TARGET ${ARG_NAME} PROPERTY XLB_BPF_OBJECT ${obj})
endfunction()
