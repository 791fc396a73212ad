#!/bin/bash
# (bindsnoop copy of the team's shared vmtest runner; the kernel matrix depends on it.)
# run-in-kernel.sh KERNEL_IMAGE 'command' -- boot a bzImage under qemu with the
# host / read-only over 9p (+ tmpfs overlay), run 'command' as root in bash
# (tracefs, debugfs, bpffs, cgroup2 mounted, lo up, caller's cwd), stream its
# output, exit with its status (124 timeout, 125 no status: guest log on stderr).
# Env: VMTEST_TIMEOUT (600 s), VMTEST_MEM (2G), VMTEST_CPUS (nproc),
# VMTEST_ACCEL (auto|kvm|tcg), VMTEST_RWDIR (host dir writable in guest),
# VMTEST_CONSOLE (keep kernel log here), VMTEST_APPEND (extra cmdline),
# VMTEST_MODULES_ROOT (the kernel's modules under DIR/lib/modules, for a
# kernel unpacked rather than installed: scripts/fetch-kernels).
set -euo pipefail
die() { echo "run-in-kernel: $*" >&2; exit 125; }
[ $# -eq 2 ] || { echo "usage: $0 KERNEL_IMAGE 'command'" >&2; exit 2; }
KERNEL=$1 CMD=$2
[ "$(dd if="$KERNEL" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || die "$KERNEL: not a bzImage"
off=$(od -An -t u2 -j 526 -N 2 "$KERNEL" | tr -d ' ')   # setup header: version string
KVER=$(dd if="$KERNEL" bs=1 skip=$((off + 512)) count=128 2>/dev/null | tr '\0' '\n' | head -n1 | cut -d' ' -f1)
ACCEL=${VMTEST_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then   # PVM's /dev/kvm (kvm_pvm) cannot run stock kernels
    ACCEL=tcg
    [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && ACCEL=kvm
fi
case $ACCEL in
    kvm) ACCEL_OPTS=(-accel kvm -cpu host) ;;
    tcg) ACCEL_OPTS=(-accel tcg,thread=multi -cpu max) ;;
    *) die "bad VMTEST_ACCEL" ;;
esac
W=$(mktemp -d /tmp/run-in-kernel.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/root/{bin,mods,proc,sys,dev,lower,upper,newroot,share} "$W/share"
cp "$(command -v busybox)" "$W/root/bin/busybox" || die "needs busybox-static"
: > "$W/root/mods/order"   # modules for 9p root + overlay, in load order
for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe ${VMTEST_MODULES_ROOT:+-d "$VMTEST_MODULES_ROOT"} -S "$KVER" --show-depends "$m" 2>/dev/null || true
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
    n=$(basename "${ko%%.ko*}").ko
    case $ko in *.xz) xz -dc "$ko" ;; *.zst) zstd -dc "$ko" ;; *) cat "$ko" ;; esac > "$W/root/mods/$n"
    echo "$n" >> "$W/root/mods/order"
done
printf '%s' "$CMD" > "$W/share/cmd"; printf '%s' "$PWD" > "$W/share/cwd"
RW=()
if [ -n "${VMTEST_RWDIR:-}" ]; then
    realpath -e "$VMTEST_RWDIR" | tr -d '\n' > "$W/share/rwdir" || die "bad VMTEST_RWDIR"
    RW=(-virtfs "local,path=$(cat "$W/share/rwdir"),mount_tag=rwdir,security_model=none")
fi
cat > "$W/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m; done
o=trans=virtio,version=9p2000.L,msize=512000; R=/newroot
mount -t 9p -o $o,ro,cache=loose hostroot /lower; mount -t 9p -o $o vmtest /share
mount -t tmpfs tmpfs /upper; mkdir /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay $R || mount --bind /lower $R
mount -t proc proc $R/proc; mount -t sysfs sys $R/sys; mount -t devtmpfs dev $R/dev
mount -t tmpfs tmpfs $R/run; mkdir -p $R/dev/pts; mount -t devpts devpts $R/dev/pts
[ -f /share/rwdir ] && mount -t 9p -o $o rwdir "$R$(cat /share/rwdir)"
mount -t tracefs tracefs $R/sys/kernel/tracing; mount -t debugfs debugfs $R/sys/kernel/debug
mount -t bpf bpf $R/sys/fs/bpf; mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
ip link set lo up; stty -F /dev/ttyS1 raw -echo; echo "init: running command"
env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VMTEST_CMD="$(cat /share/cmd)" VMTEST_CWD="$(cat /share/cwd)" chroot $R /bin/bash -c \
    'cd "$VMTEST_CWD" 2>/dev/null || cd /; eval "$VMTEST_CMD"' </dev/null >/dev/ttyS1 2>&1
echo $? > /share/rc; sync; reboot -f
EOF
chmod +x "$W/root/init"
(cd "$W/root" && find . | cpio -o -H newc --quiet > "$W/initrd.cpio")
set +e
timeout -k 10 "${VMTEST_TIMEOUT:-600}" qemu-system-x86_64 "${ACCEL_OPTS[@]}" \
    -M pc -nodefaults -no-user-config -display none -no-reboot \
    -smp "${VMTEST_CPUS:-$(nproc)}" -m "${VMTEST_MEM:-2G}" -kernel "$KERNEL" -initrd "$W/initrd.cpio" \
    -append "console=ttyS0 panic=-1 mitigations=off loglevel=4 ${VMTEST_APPEND:-}" \
    -serial "file:$W/console.log" -chardev stdio,id=out -serial chardev:out \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$W/share,mount_tag=vmtest,security_model=none" "${RW[@]}" </dev/null
q=$?
[ -z "${VMTEST_CONSOLE:-}" ] || cp "$W/console.log" "$VMTEST_CONSOLE"
[ -s "$W/share/rc" ] && exit "$(cat "$W/share/rc")"
echo "run-in-kernel: no exit status from guest (qemu rc=$q); guest log:" >&2
tail -n 40 "$W/console.log" >&2
[ $q -eq 124 ] && exit 124 || exit 125
