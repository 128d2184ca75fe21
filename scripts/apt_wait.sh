# Sourced by the set-up scripts before they run apt-get: wait (bounded) while another process holds the
# apt/dpkg locks (an unattended upgrade, another installer), then go on.
#   . scripts/apt_wait.sh; aurascope_wait_for_apt [seconds]     # default 300; AURASCOPE_APT_WAIT_S overrides
# After the wait apt-get runs anyway: if the lock is still held it fails with its own clear message.

_aurascope_apt_locks="/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock"

# 0 when some process holds one of the locks (dpkg and apt take them with fcntl, which fuser and lsof see)
_aurascope_apt_locked() {
  _l=""
  for _f in $_aurascope_apt_locks; do
    [ -e "$_f" ] && _l="$_l $_f"
  done
  [ -n "$_l" ] || return 1
  if command -v fuser >/dev/null 2>&1; then
    # shellcheck disable=SC2086  # one word per lock file
    fuser $_l >/dev/null 2>&1
  elif command -v lsof >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    lsof $_l >/dev/null 2>&1
  else
    return 1  # nothing to look with: let apt-get report a held lock itself
  fi
}

aurascope_wait_for_apt() {
  _limit=${1:-${AURASCOPE_APT_WAIT_S:-300}}
  _waited=0
  while _aurascope_apt_locked; do
    if [ "$_waited" -eq 0 ]; then
      printf 'waiting for another package manager to finish (apt/dpkg lock held; up to %s s)\n' "$_limit" >&2
    fi
    if [ "$_waited" -ge "$_limit" ]; then
      printf 'the apt/dpkg lock is still held after %s s; trying anyway\n' "$_limit" >&2
      return 0
    fi
    sleep 2
    _waited=$((_waited + 2))
  done
  if [ "$_waited" -gt 0 ]; then
    printf 'the package manager finished after %s s; going on\n' "$_waited" >&2
  fi
  return 0
}
