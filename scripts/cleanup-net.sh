#!/usr/bin/env bash
# Removes iptables chains and rules left by a killed test or lab run (chains named RT-*).
# Safe to run any time; touches nothing else.
set -u
command -v iptables >/dev/null || exit 0
[ "$(id -u)" = 0 ] || exit 0
for table in filter nat; do
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^RT-/ {print $2}'); do
    for parent in INPUT OUTPUT PREROUTING POSTROUTING; do
      while iptables -t "$table" -D "$parent" -j "$chain" 2>/dev/null; do :; done
    done
    iptables -t "$table" -F "$chain" 2>/dev/null
    iptables -t "$table" -X "$chain" 2>/dev/null
  done
done
exit 0
