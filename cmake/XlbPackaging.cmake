# SPDX-License-Identifier: Apache-2.0
# CPack DEB package "xlb": binaries, unit, /etc conffiles and maintainer scripts (README "Packaging").

# The /etc files belong to the package only: a plain `cmake --install` must never overwrite an
# admin's /etc/xlb/xlb.yaml, so they are a component that only CPack installs.
install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/xlb.yaml DESTINATION /etc/xlb
        COMPONENT xlb_etc EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/debian/xlb-agent.default DESTINATION /etc/default
        RENAME xlb-agent COMPONENT xlb_etc EXCLUDE_FROM_ALL)

set(XLB_PACKAGE_MAINTAINER "xlb maintainers <maintainers@xlb.invalid>"
    CACHE STRING "Maintainer field of the .deb (name <email>)")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME xlb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR xlb)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "XDP/eBPF L4 load balancer with a gRPC-driven agent")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# One package holding the default component and the /etc component.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified xlb_etc)

set(CPACK_DEBIAN_PACKAGE_NAME xlb)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # xlb_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${XLB_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE XLB_DEB_ARCH
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE XLB_DEB_ARCH_RC ERROR_QUIET)
if(XLB_DEB_ARCH_RC EQUAL 0 AND XLB_DEB_ARCH)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${XLB_DEB_ARCH})
endif()
# The extended description; CPack puts the summary above it and indents every line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "xlb forwards TCP and UDP flows to backends from an XDP program (direct server
return or IPIP/IP6IP6 encapsulation) with Maglev and other schedulers, health
checks, draining and a flow table that survives agent restarts and upgrades.

This package ships xlb-agent (the control plane, a systemd service), lbctl
(the command-line client) and xlb-decap (backend-side decapsulation). The
service starts with no VIPs and attached to no interface; choose the NIC in
/etc/default/xlb-agent.")
# Libraries the binaries link (gRPC, protobuf, libbpf, abseil, ...) come from dpkg-shlibdeps; the
# maintainer scripts need addgroup and deb-systemd-helper/-invoke.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, init-system-helpers")
# BGP announcements of the VIPs (config section bgp:, xlb-bgp.service) run through Debian's gobgpd.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "gobgpd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
