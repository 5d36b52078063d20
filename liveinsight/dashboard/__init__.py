"""The Streamlit dashboard's helpers and the read APIs' client: never shipped in the Lambda zip."""
