// Package kubepod names the Kubernetes pod a network namespace belongs
// to, from the kubelet's own layout on the node, without asking the API
// server: the cgroup path of the namespace's processes holds the pod's
// UID (kubepods…pod<UID>, with the systemd or the cgroupfs driver), and
// the kubelet keeps each pod's logs in /var/log/pods/<namespace>_<name>_<UID>.
// On a node that is no Kubernetes node it finds nothing, quietly.
package kubepod
