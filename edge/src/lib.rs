//! Edge node: pipeline + store-and-forward uplink + health. Arrives with the alert fabric (issue 3).
