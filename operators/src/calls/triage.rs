//! Call triage: incident type and priority from the narrative.
