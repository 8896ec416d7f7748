"""The sandbox: local emulators of the Jira, Google and Microsoft APIs over real HTTP on loopback."""
