"""The admin API: JSON over HTTP for the person's CLI, a controller or the dashboard."""
