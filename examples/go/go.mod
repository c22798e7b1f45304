module astis.dev/astis-example

go 1.19

require astis.dev/astis v0.0.0

replace astis.dev/astis => ../../go
