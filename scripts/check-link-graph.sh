#!/usr/bin/env bash
# check-link-graph.sh BUILD_DIR: the libraries follow the graph (DESIGN.md
# "The parts"): the DCS value model, config/, the pure decision engine and
# ctl's output code build without etcd's gRPC client, and so do their tests
# and fuzz replays. Checked twice: the link line CMake wrote for each binary
# names no libgrpc / libgpr / libprotobuf-c / libpgw_etcd (a dependency
# declared, even unused: the linker's --as-needed would hide it from the
# binary), and the linked binary holds no etcd client or gRPC symbol
# (static archives pull objects in silently). Run by ctest
# (check_link_graph) after every build.
set -uo pipefail
build=${1:?usage: check-link-graph.sh BUILD_DIR}
# binary (relative to BUILD_DIR) -> what it stands for
pure=(
	tests/test_consensus_dcs_codec:"the DCS value model (pgw_dcs)"
	tests/test_config_parse:"config/ (pgw_config)"
	tests/replay_fuzz_config:"config/'s fuzz target"
	tests/replay_fuzz_dcs_values:"the DCS codecs' fuzz target"
	tests/test_failover_decide:"the decision engine (pgw_failover)"
	tests/test_ctl_output:"ctl's output code (pgw_ctl_output)"
)
rc=0
for entry in "${pure[@]}"; do
	bin=$build/${entry%%:*}
	what=${entry#*:}
	if [ ! -x "$bin" ]; then
		echo "check-link-graph: $bin is missing (build first)" >&2
		rc=1
		continue
	fi
	link=$build/$(dirname "${entry%%:*}")/CMakeFiles/$(basename "${entry%%:*}").dir/link.txt
	if [ ! -f "$link" ]; then
		echo "check-link-graph: $link is missing (a CMake build dir?)" >&2
		rc=1
		continue
	fi
	needed=$(tr ' ' '\n' <"$link" | grep -E '(lib(grpc|gpr|protobuf-c)[.-]|libpgw_etcd\.a|-l(grpc|gpr|protobuf-c)$)' |
		xargs -r -n1 basename | sort -u | tr '\n' ' ')
	if [ -n "$needed" ]; then
		echo "check-link-graph: $what is linked with $needed($link); it must build without gRPC" >&2
		rc=1
	fi
	syms=$(nm "$bin" 2>/dev/null | grep -E ' [TtUu] (grpc_|gpr_|protobuf_c_|etcd_client_|etcd_txn$|etcd_range$)' |
		awk '{print $NF}' | head -5 | tr '\n' ' ')
	if [ -n "$syms" ]; then
		echo "check-link-graph: $what contains etcd/gRPC symbols: $syms($bin)" >&2
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "check-link-graph: ${#pure[@]} binaries build without gRPC"
exit $rc
