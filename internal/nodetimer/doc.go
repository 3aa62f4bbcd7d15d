// Package nodetimer reads the stateful timers on this node that forget an
// idle TCP flow, in the network namespace of the calling thread: a
// connection silent for longer than one of them loses its state there
// (its NAT mapping, its IPVS scheduling, its conntrack entry), and its next
// packet is dropped or answered with a RST while both ends still think it
// is open.
//
//   - conntrack: net.netfilter.nf_conntrack_tcp_timeout_established (per
//     network namespace; 432000 s compiled in, kube-proxy sets 86400).
//     Listed whenever the key exists, i.e. nf_conntrack is loaded or built
//     in: whether conntrack tracks flows in a namespace depends on rules
//     that use it (NAT, ct state), which no file says. nf_conntrack_count
//     is given beside it as the evidence: 0 means nothing is tracked now.
//   - ipvs: the TCP timeout of IPVS's connection table (IPVS_CMD_GET_CONFIG
//     over generic netlink, as ipvsadm -L --timeout; 900 s by default), when
//     ip_vs is loaded: /proc/net/ip_vs exists in the namespace. tcpka never
//     loads the module; a lookup of the IPVS family is not even sent
//     without it, since the kernel may autoload a family it is asked for.
//   - nft-ct-timeout: nftables "ct timeout" objects for TCP and their
//     established value, from an NFT_MSG_GETOBJ dump. They apply only to
//     flows a rule assigns them to (ct timeout set).
//
// Reading IPVS and nftables needs CAP_NET_ADMIN; without it those kinds are
// listed in Report.Unread with ErrNotPermitted, and conntrack is still read.
//
// How long a timer is compared with what keeps a flow open (keepalive
// answered every max(time, interval)) is the model's question: Timer.KeepsOpen
// asks detect.KeepsOpen.
package nodetimer
