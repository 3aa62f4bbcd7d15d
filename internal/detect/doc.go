// Package detect is tcpka's one model of how long a dead peer goes
// unnoticed. Every command that prints a detection time (show, profiles,
// apply, sockets, plan, measure) gets it from here, so there is no second
// copy of the formula.
//
// For an idle connection whose peer vanished silently, the kernel sends the
// first probe after Time of idleness and gives up after Probes unanswered
// probes Intvl apart: detection = Time + Intvl*Probes.
package detect
