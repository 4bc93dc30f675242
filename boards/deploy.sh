#!/usr/bin/env bash
# Installs leukoscope-edge on a board over ssh: cross-builds it for aarch64, copies the
# binary, the board's settings, the model and the service unit, installs them, runs the
# board's self-test as the service user, and only when that passes enables the service.
#
#   boards/deploy.sh BOARD user@host [--model FILE] [--dry-run]
#
# BOARD is a folder under boards/ (jetson-orin-nano, jetson-nano, raspberry-pi-5).
# --dry-run prints every command (and the files it would generate) instead of running
# anything: no build, no ssh. docs/boards.md walks through a first installation.
set -euo pipefail

readonly TARGET=aarch64-unknown-linux-gnu
readonly STAGE=.leukoscope-deploy # on the board, in the ssh user's home
readonly BIN=/opt/leukoscope/bin/leukoscope-edge
readonly SETTINGS=/etc/leukoscope/board.toml
readonly UNIT=leukoscope-edge.service
readonly DEFAULT_MODEL=/opt/leukoscope/models/b-all-4-edge-s.lsm

usage() {
    cat >&2 <<'EOF'
usage: boards/deploy.sh BOARD user@host [--model FILE] [--dry-run]

  BOARD        a folder under boards/ holding board.toml (e.g. raspberry-pi-5)
  user@host    the board, reachable with ssh; the user needs sudo there
  --model FILE the signed .lsm model to install at the board.toml's model.path
  --dry-run    print the commands instead of running them
EOF
}

die() {
    echo "deploy.sh: error: $*" >&2
    exit 1
}

note() {
    echo "deploy.sh: $*" >&2
}

# ---- arguments ----------------------------------------------------------------------
board=""
host=""
model=""
dry_run=0
positional=()
while (($# > 0)); do
    case "$1" in
    --model)
        (($# >= 2)) || { usage; die "--model needs a file"; }
        model=$2
        shift 2
        ;;
    --model=*)
        model=${1#--model=}
        shift
        ;;
    --dry-run)
        dry_run=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*)
        usage
        die "unknown option $1"
        ;;
    *)
        positional+=("$1")
        shift
        ;;
    esac
done
if ((${#positional[@]} != 2)); then
    usage
    exit 2
fi
board=${positional[0]}
host=${positional[1]}

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
board_dir=$here/$board
settings_file=$board_dir/board.toml
unit_file=$here/$UNIT

# A board name is a folder name, never a path: "../x" or "a/b" would leave boards/.
[[ $board =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && -d $board_dir ]] ||
    die "no board '$board' under $here (boards: $(cd "$here" && ls -d -- */ 2>/dev/null | tr -d / | paste -sd ' ' -))"
[[ -f $settings_file ]] || die "$settings_file is missing"
[[ -f $unit_file ]] || die "$unit_file is missing"
if [[ -n $model ]]; then
    [[ -f $model ]] || die "model file '$model' does not exist"
    model=$(cd -- "$(dirname -- "$model")" && pwd)/$(basename -- "$model")
fi

# ---- helpers ------------------------------------------------------------------------
# Prints a command, quoting only the words that need it, so it can be pasted into a
# shell; runs it unless this is a dry run.
run() {
    local word
    printf '+'
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
            printf ' %s' "$word"
        else
            printf ' %q' "$word"
        fi
    done
    printf '\n'
    if ((dry_run == 0)); then
        "$@"
    fi
}

# toml_value SECTION KEY FILE: KEY's value in [SECTION] of a flat TOML file, quotes and
# trailing comment removed; empty when absent. Enough for board.toml's simple values.
toml_value() {
    awk -v section="[$1]" -v key="$2" '
        { line = $0; sub(/#.*/, "", line) }
        line ~ /^[[:space:]]*\[/ { gsub(/[[:space:]]/, "", line); current = line; next }
        current == section && match(line, "^[[:space:]]*" key "[[:space:]]*=") {
            value = substr(line, RLENGTH + 1)
            gsub(/^[[:space:]]+|[[:space:]]+$/, "", value)
            gsub(/^"|"$/, "", value)
            print value
            exit
        }' "$3"
}

# stage NAME: writes stdin to the local staging folder, or shows it on a dry run.
stage() {
    if ((dry_run)); then
        echo "--- $1 (generated) ---"
        cat
        echo "--- end of $1 ---"
    else
        cat >"$staging/$1"
    fi
}

ssh_tty=()
[[ -t 0 ]] && ssh_tty=(-t) # sudo on the board may ask for a password

# ---- what this board needs ----------------------------------------------------------
device=$(toml_value model device "$settings_file")
model_path=$(toml_value model path "$settings_file")
model_path=${model_path:-$DEFAULT_MODEL}
pwm_chip=$(toml_value pins pwm_chip "$settings_file")
pwm_channel=$(toml_value pins pwm_channel "$settings_file")
[[ $model_path == /* ]] ||
    die "$settings_file: model.path must be absolute on a deployed board (it is '$model_path')"

features=linux-board,camera
if [[ $device == cuda ]]; then
    if [[ -n $(toml_value features cuda "$repo/edge-runtime/Cargo.toml") ]]; then
        features+=,cuda
    else
        note "warning: $board sets model.device = \"cuda\" but this leukoscope-edge has no cuda feature; building for the CPU"
    fi
fi
if [[ $board == jetson-nano ]]; then
    note "warning: JetPack 4 (Ubuntu 18.04) has glibc 2.27; a binary linked on a newer host will not start there (the glibc check below stops before installing it)"
fi

staging=${TMPDIR:-/tmp}/leukoscope-deploy.XXXXXX
if ((dry_run == 0)); then
    staging=$(mktemp -d "$staging")
    trap 'rm -rf -- "$staging"' EXIT
fi

cd -- "$repo"
note "deploying board $board to $host$( ((dry_run)) && echo ' (dry run: nothing is run)')"

# ---- 1. reach the board, learn its C library ------------------------------------------
remote_glibc=""
if ((dry_run)); then
    run ssh "$host" getconf GNU_LIBC_VERSION
else
    echo "+ ssh $host getconf GNU_LIBC_VERSION"
    remote_glibc=$(ssh "$host" getconf GNU_LIBC_VERSION) ||
        die "cannot reach $host over ssh (try: ssh $host)"
    remote_glibc=${remote_glibc##* } # "glibc 2.35" -> "2.35"
fi

# ---- 2. cross-build -------------------------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    run rustup target add "$TARGET"
fi
run cargo build --release --locked -p leukoscope-edge --target "$TARGET" --features "$features" ||
    die "the build failed (see above); the board was not touched"
built=${CARGO_TARGET_DIR:-$repo/target}/$TARGET/release/leukoscope-edge
strip_tool=aarch64-linux-gnu-strip
if ! command -v "$strip_tool" >/dev/null 2>&1 && command -v llvm-strip >/dev/null 2>&1; then
    strip_tool=llvm-strip
fi
# A stripped copy goes to the board; target/ keeps the symbols for reading a crash.
run "$strip_tool" -o "$staging/leukoscope-edge" "$built" ||
    die "cannot strip $built (install binutils-aarch64-linux-gnu)"

# The newest glibc symbol version the binary needs must be one the board has.
if ((dry_run)); then
    run aarch64-linux-gnu-objdump -T "$staging/leukoscope-edge"
elif command -v aarch64-linux-gnu-objdump >/dev/null 2>&1; then
    needed_glibc=$(aarch64-linux-gnu-objdump -T "$staging/leukoscope-edge" |
        grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    if [[ -n $needed_glibc && -n $remote_glibc ]] &&
        [[ $(printf '%s\n%s\n' "$needed_glibc" "$remote_glibc" | sort -V | tail -n 1) != "$remote_glibc" ]]; then
        die "the binary needs glibc $needed_glibc but $host has $remote_glibc; build against the board's glibc (e.g. cargo zigbuild --target $TARGET.$remote_glibc) or on the board"
    fi
else
    note "warning: no aarch64-linux-gnu-objdump; not checking the binary's glibc against the board's ($remote_glibc)"
fi

# ---- 3. the files the board gets --------------------------------------------------------
pwm_rule=""
if [[ -n $pwm_chip && -n $pwm_channel ]]; then
    pwm_rule="# The illumination's PWM channel (pins.pwm_chip, pins.pwm_channel): exported by udev at
# boot, as root, then given to the gpio group, so the service never writes \"export\".
SUBSYSTEM==\"pwm\", KERNEL==\"pwmchip$pwm_chip\", ACTION==\"add\", ATTR{export}=\"$pwm_channel\", RUN+=\"/bin/sh -c 'chgrp -R gpio /sys%p && chmod -R g+w /sys%p'\""
fi
stage 90-leukoscope.rules <<EOF
# Installed by leukoscope's boards/deploy.sh (board $board).
# GPIO character devices: the service's gpio group may claim lines.
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
$pwm_rule
EOF

dropins=()
if [[ -d $board_dir/$UNIT.d ]]; then
    for f in "$board_dir/$UNIT.d"/*.conf; do
        [[ -e $f ]] && dropins+=("$f")
    done
fi

install_model=""
[[ -z $model ]] || install_model="install -m 0644 model.lsm $model_path"
install_dropins=""
if ((${#dropins[@]})); then
    install_dropins="install -d -m 0755 /etc/systemd/system/$UNIT.d"
    for f in "${dropins[@]}"; do
        install_dropins+=$'\n'"install -m 0644 $(basename -- "$f") /etc/systemd/system/$UNIT.d/"
    done
fi
stage install.sh <<EOF
# Runs on the board as root, from the staging folder (generated by deploy.sh).
set -eu
cd "\$(dirname "\$0")"
getent group gpio >/dev/null || groupadd --system gpio
getent group video >/dev/null || groupadd --system video
if id -u leukoscope >/dev/null 2>&1; then
    usermod -a -G video,gpio leukoscope
else
    useradd --system --user-group --no-create-home --home-dir /var/lib/leukoscope \\
        --shell /usr/sbin/nologin --groups video,gpio leukoscope
fi
install -d -m 0755 /opt/leukoscope/bin /etc/leukoscope "$(dirname "$model_path")"
install -d -o leukoscope -g leukoscope -m 0750 /var/lib/leukoscope
# The running service holds the camera and the GPIO lines the self-test needs.
systemctl stop $UNIT 2>/dev/null || true
install -m 0755 leukoscope-edge $BIN
if [ -f $SETTINGS ] && ! cmp -s board.toml $SETTINGS; then
    kept=$SETTINGS.\$(date +%Y%m%d-%H%M%S)
    cp -p $SETTINGS "\$kept"
    echo "the board's previous settings are kept as \$kept"
fi
install -m 0644 board.toml $SETTINGS
$install_model
install -m 0644 $UNIT /etc/systemd/system/$UNIT
rm -rf /etc/systemd/system/$UNIT.d
$install_dropins
install -m 0644 90-leukoscope.rules /etc/udev/rules.d/90-leukoscope.rules
udevadm control --reload
udevadm trigger --action=add --subsystem-match=gpio --subsystem-match=pwm
udevadm settle
systemctl daemon-reload
EOF

# ---- 4. copy ----------------------------------------------------------------------------
run ssh "$host" mkdir -p "$STAGE" || die "cannot reach $host over ssh (try: ssh $host)"
run scp "$staging/leukoscope-edge" "$host:$STAGE/leukoscope-edge" || die "copying the binary to $host failed"
run scp "$settings_file" "$host:$STAGE/board.toml" || die "copying board.toml to $host failed"
run scp "$unit_file" "$host:$STAGE/$UNIT" || die "copying the service unit to $host failed"
for f in ${dropins[@]+"${dropins[@]}"}; do
    run scp "$f" "$host:$STAGE/$(basename -- "$f")" || die "copying $f to $host failed"
done
if [[ -n $model ]]; then
    run scp "$model" "$host:$STAGE/model.lsm" || die "copying the model to $host failed"
else
    note "no --model: the board keeps whatever is at $model_path (the self-test fails if nothing is)"
fi
run scp "$staging/install.sh" "$staging/90-leukoscope.rules" "$host:$STAGE/" ||
    die "copying the install script to $host failed"

# ---- 5. install, self-test, enable ------------------------------------------------------
run ssh ${ssh_tty[@]+"${ssh_tty[@]}"} "$host" sudo sh "$STAGE/install.sh" ||
    die "installing on $host failed (see above); the service was stopped and is not enabled"
# The self-test runs as the service user, so a missing group or permission shows now.
if ! run ssh ${ssh_tty[@]+"${ssh_tty[@]}"} "$host" sudo -u leukoscope "$BIN" check --board "$SETTINGS"; then
    die "the self-test on $host failed (its reason is the line above); the service is installed but NOT enabled. Fix it (often $SETTINGS on the board), then run this script again or: ssh $host sudo systemctl enable --now $UNIT"
fi
run ssh ${ssh_tty[@]+"${ssh_tty[@]}"} "$host" sudo systemctl enable --now "$UNIT" ||
    die "enabling $UNIT on $host failed (see above)"
run ssh "$host" rm -rf "$STAGE"
if ((dry_run)); then
    note "dry run done: the commands above are what a real run would do"
else
    note "done: $board on $host is running; follow it with: ssh $host journalctl -u $UNIT -f"
fi
