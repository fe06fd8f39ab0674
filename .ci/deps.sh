#!/usr/bin/env bash
# .ci/deps.sh — check for dnateq's Debian packages and install what is missing.
#
#   bash .ci/deps.sh [GROUP...]     GROUP: core (default), torch, tex, fuzz
#
# As root it installs the missing packages with apt-get; otherwise it prints
# the exact apt-get line and fails.  It also points libblas.so.3 at the
# OpenMP build of OpenBLAS: the pthread build oversubscribes the cores
# under OpenMP, and torch would otherwise use whatever libblas.so.3 is.
set -euo pipefail

core="libgsl-dev libhdf5-dev hdf5-tools libopenblas-openmp-dev libopenblas0-openmp
      zlib1g-dev libinih-dev libcmocka-dev gnuplot-nox dataset-fashion-mnist pkg-config
      make gcc"
torch="python3-torch python3-numpy python3-h5py"
tex="texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra latexmk
     poppler-utils"
fuzz="clang libclang-rt-14-dev"

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(core)
want=""
for g in "${groups[@]}"; do
    case "$g" in
    core) want+=" $core" ;;
    torch) want+=" $torch" ;;
    tex) want+=" $tex" ;;
    fuzz) want+=" $fuzz" ;;
    *) echo "deps.sh: unknown group '$g' (core, torch, tex, fuzz)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing+=" $p"
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "dnateq: missing Debian packages. Run as root:" >&2
        echo "  apt-get install -y$missing" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Prefer the OpenMP OpenBLAS for libblas/liblapack when alternatives exist.
if [ "$(id -u)" -eq 0 ]; then
    d=/usr/lib/x86_64-linux-gnu/openblas-openmp
    for alt in libblas.so.3 liblapack.so.3 libblas.so liblapack.so libopenblas.so.0 libopenblas.so; do
        name="$alt-x86_64-linux-gnu"
        if [ -e "$d/$alt" ] && update-alternatives --query "$name" >/dev/null 2>&1; then
            cur=$(update-alternatives --query "$name" | sed -n 's/^Value: //p')
            [ "$cur" = "$d/$alt" ] || update-alternatives --set "$name" "$d/$alt" >/dev/null
        fi
    done
fi
echo "deps: ok (${groups[*]})"
