module wasmpod.dev/tests/guests/go

go 1.21
