# What an installation of Hearth holds besides the targets' own install()
# rules (hearthd → sbin, hearthctl → bin, plugins → HEARTH_INSTALL_PLUGIN_DIR),
# and the Debian package CPack makes of it:
#
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
#   (cd build && cpack -G DEB)        → build/hearth_<version>_<arch>.deb
#
# The package is laid out for prefix /usr (the project's default prefix):
# the binaries find their plugins at the compiled-in HEARTH_INSTALL_PLUGIN_DIR,
# so a build for another prefix makes no package.

# Debian 12 keeps unit files in /lib/systemd/system (no merged-/usr paths in
# packages yet); other prefixes get the directory systemd searches under them.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(HEARTH_SYSTEMD_UNIT_DIR "/lib/systemd/system")
else()
  set(HEARTH_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
install(FILES systemd/hearthd.service systemd/hearthd.socket DESTINATION "${HEARTH_SYSTEMD_UNIT_DIR}")
install(FILES systemd/hearth.sysusers DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" RENAME hearth.conf)
# hearthd reads /etc/hearth/hearth.toml whatever the prefix.
install(FILES etc/hearth.toml DESTINATION /etc/hearth)
install(FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(DIRECTORY docs/ DESTINATION "${CMAKE_INSTALL_DOCDIR}" FILES_MATCHING PATTERN "*.md")

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "Debian package: not set up (CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}, the package needs /usr)")
  return()
endif()

# `cpack` installs the targets as they are built instead of building `all`
# (the whole test suite) first; build hearthd, hearthctl and the plugins
# before packaging (a missing one fails the install step by name).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "hearth")
set(CPACK_PACKAGE_VENDOR "Hearth")
set(CPACK_PACKAGE_CONTACT "Hearth maintainers <hearth@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Self-hosted LLM server for GGUF models (OpenAI-compatible API over TLS)")
set(CPACK_PACKAGE_DESCRIPTION
    "Hearth serves open-weight language models (GGUF) on a company's own hardware: hearthd, a sandboxed systemd service with an OpenAI-compatible HTTP and WebSocket API over TLS, backend plugins loaded at run time, and hearthctl, the admin command-line tool.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Depends: computed from the binaries and plugins by dpkg-shlibdeps. passwd
# (useradd) is Priority: required, systemd only recommended: the package
# also works where hearthd runs without it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill for the unit's ExecReload= (not in a minimal Debian).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/installer/debian/conffiles"
    "${PROJECT_SOURCE_DIR}/installer/debian/postinst"
    "${PROJECT_SOURCE_DIR}/installer/debian/prerm"
    "${PROJECT_SOURCE_DIR}/installer/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
