// Bare C loops over libpcsclite and libnfc: the baseline tapd's reader back ends are measured against.
#include <stddef.h>
#include <stdint.h>

/// SCardTransmit `apdu` `iterations` times on `reader` (shared, T=0|T=1); nanoseconds elapsed, or a negative
/// pcsc-lite/errno code.
int64_t bare_pcsc_loop(const char *reader, const uint8_t *apdu, size_t length, int iterations);

/// Opens `connstring`, selects a 106 kbps type A target, and nfc_initiator_transceive_bytes `apdu` `iterations`
/// times; nanoseconds elapsed, or a negative libnfc code.
int64_t bare_nfc_loop(const char *connstring, const uint8_t *apdu, size_t length, int iterations);
