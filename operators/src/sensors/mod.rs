//! Sensor telemetry (issue 6): generic readings, the radiation portal monitor rule, alarm
//! contacts and sensor silence.
