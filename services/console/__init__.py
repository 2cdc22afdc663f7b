"""The CS review console: a server-rendered web page for reps, in front of the gRPC
services (a backend-for-frontend). Every call carries the signed-in rep's own token, so
roles, rules and audit stay in the services; the console holds no business rule."""
