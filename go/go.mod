module astis.dev/astis

go 1.19
