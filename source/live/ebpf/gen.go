package ebpf

// The object files are generated with Debian clang 14 (clang-14.0.6) and
// libbpf-dev's headers, and committed, so building the module needs
// neither. To regenerate: apt-get install clang llvm libbpf-dev, then
// go generate ./source/live/ebpf/
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type event exec exec.bpf.c
