#!/bin/sh
# Regenerates archive.tar and archive.tar.gz (committed, so the test does not depend on this script).
# Deterministic: fixed mtimes, sorted names, numeric owners that exist in no passwd file.
set -eu
cd "$(dirname "$0")"
s=$(mktemp -d)
mkdir -p "$s/pkg/bin" "$s/pkg/private"
echo hello > "$s/pkg/hello.txt"
printf '#!/bin/sh\necho tool\n' > "$s/pkg/bin/tool"
ln "$s/pkg/hello.txt" "$s/pkg/hello-hardlink"
ln -s hello.txt "$s/pkg/hello-symlink"
echo secret > "$s/pkg/private/s"
chmod 0700 "$s/pkg/private"
chown -R 1234:5678 "$s/pkg"
chown 0:0 "$s/pkg/private/s"
chmod 4755 "$s/pkg/bin/tool" # after chown, which clears setuid
tar --sort=name --mtime=@1704067200 --numeric-owner -C "$s" -cf archive.tar pkg
tar --sort=name --mtime=@1704067200 --numeric-owner -C "$s" -cf - pkg | gzip -n9 > archive.tar.gz
rm -rf "$s"
