// Bare loops: what a C program does with the same libraries and nothing else (see CBareReaders.h).
#include "CBareReaders.h"
#include <PCSC/winscard.h>
#include <nfc/nfc.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int64_t bare_pcsc_loop(const char *reader, const uint8_t *apdu, size_t length, int iterations) {
    SCARDCONTEXT ctx;
    SCARDHANDLE card;
    DWORD proto, rlen;
    uint8_t response[65538];
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) return -(int64_t)(rv & 0xFFFF) - 1;
    rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (rv != SCARD_S_SUCCESS) { SCardReleaseContext(ctx); return -(int64_t)(rv & 0xFFFF) - 1; }
    SCARD_IO_REQUEST pci = { proto, sizeof(SCARD_IO_REQUEST) };
    int64_t start = now_ns();
    for (int i = 0; i < iterations; i++) {
        rlen = sizeof(response);
        rv = SCardTransmit(card, &pci, apdu, (DWORD)length, NULL, response, &rlen);
        if (rv != SCARD_S_SUCCESS || rlen < 2) break;
    }
    int64_t elapsed = now_ns() - start;
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    return rv == SCARD_S_SUCCESS ? elapsed : -(int64_t)(rv & 0xFFFF) - 1;
}

int64_t bare_nfc_loop(const char *connstring, const uint8_t *apdu, size_t length, int iterations) {
    // One context for the process, never exited: libnfc 1.8.0's nfc_exit frees the global driver list under
    // every other context (tapd's included).
    static nfc_context *ctx;
    if (!ctx) nfc_init(&ctx);
    if (!ctx) return -80;
    nfc_device *dev = nfc_open(ctx, connstring);
    if (!dev) return -4;
    int64_t result = -1;
    if (nfc_initiator_init(dev) >= 0) {
        nfc_target target;
        const nfc_modulation nm = { .nmt = NMT_ISO14443A, .nbr = NBR_106 };
        if (nfc_initiator_select_passive_target(dev, nm, NULL, 0, &target) > 0) {
            uint8_t response[264];
            int64_t start = now_ns();
            int i;
            for (i = 0; i < iterations; i++) {
                int n = nfc_initiator_transceive_bytes(dev, apdu, length, response, sizeof(response), 2000);
                if (n < 2) break;
            }
            result = i == iterations ? now_ns() - start : -20;
        }
    }
    nfc_close(dev);
    return result;
}
