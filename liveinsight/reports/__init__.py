"""Reports and alerts: built from the stats reader's answers, delivered by e-mail and Slack, run on schedules."""
