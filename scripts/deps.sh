#!/usr/bin/env bash
# Installs what cask needs to build, test and benchmark on Debian 12,
# skipping packages that are already there.
set -euo pipefail
pkgs=(build-essential python3 autoconf automake libtool pkg-config git curl
      liblmdb-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev check
      clang clang-format clang-tidy cppcheck libclang-rt-14-dev
      nginx-light wrk chromium systemd debhelper lintian dpkg-dev
      awscli python3-boto3 rclone s3cmd)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
