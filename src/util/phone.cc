// E.164 normalisation with Google's libphonenumber (Debian's libphonenumber-dev): the number
// plan knowledge (trunk prefixes, international prefixes, lengths per country) is theirs, kept
// up to date upstream, rather than ours. A C interface for the rest of callhook (util/phone.h).
#include <phonenumbers/phonenumberutil.h>

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
#include "util/hash.h"
#include "util/phone.h"
}

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

// in as E.164 per the rules below, or "" when it is not a full number.
static std::string to_e164(const PhoneNumberUtil *util, const std::string &in,
                           const std::string &region)
{
    PhoneNumber n;
    // (keeping the raw input is what records how the country code was found)
    if (util->ParseAndKeepRawInput(in, region, &n) != PhoneNumberUtil::NO_PARSING_ERROR) return "";
    if (n.has_extension()) return ""; // "050-123-4567 x12" is not one number
    // A number valid in its plan; or, when written in full international form, one of a
    // possible length (test and newly allocated ranges are not in the metadata yet).
    bool international = n.country_code_source() != PhoneNumber::FROM_DEFAULT_COUNTRY;
    if (!util->IsValidNumber(n) && !(international && util->IsPossibleNumber(n))) return "";
    std::string e164;
    util->Format(n, PhoneNumberUtil::E164, &e164);
    // Format hands back the raw input for some degenerate numbers ("++ 49 00"): only "+" and
    // digits, the first not 0, count as E.164
    if (e164.size() < 2 || e164[0] != '+' || e164[1] == '0' ||
        e164.find_first_not_of("0123456789", 1) != std::string::npos)
        return "";
    return e164;
}

static bool normalise(const char *raw, const char *country, char *out, size_t outsz)
{
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    std::string region = "ZZ"; // unknown: only international forms parse
    if (country && *country) {
        char *end;
        long cc = std::strtol(country, &end, 10);
        if (!*end && cc > 0 && cc < 1000) util->GetRegionCodeForCountryCode((int)cc, &region);
    }
    // SIP URIs as PBXs write them ("sip:+14155550142@pbx.example.com;user=phone"): the user part
    std::string in(raw);
    if (!in.compare(0, 4, "sip:") || !in.compare(0, 5, "sips:")) {
        in.erase(0, in.find(':') + 1);
        in = in.substr(0, in.find_first_of("@;"));
    }
    std::string e164 = to_e164(util, in, region);
    // a result must read back as itself, or different spellings of one number could give
    // different keys (directory leads, search)
    if (e164.empty() || to_e164(util, e164, "ZZ") != e164) return false;
    if (e164.size() + 1 > outsz || e164.size() < 8 || e164.size() > 16) return false;
    std::memcpy(out, e164.c_str(), e164.size() + 1);
    return true;
}

// libphonenumber's regular expressions are the largest single cost of an ingest request (a
// quarter of the HTTP threads' time at full load), and the same numbers come back again and
// again: the tenant's own lines, repeat callers, the from and to of every event of a call. So
// each thread keeps the last answers in a small direct-mapped cache, positive and negative
// (the function is pure; no lock, no sharing, bounded memory: kCacheSlots * ~90 bytes).
namespace
{
constexpr size_t kCacheSlots = 256;
constexpr size_t kKeyMax = 3 + 1 + 64 + 1; // country, '|', raw, NUL
struct CacheSlot {
    char key[kKeyMax];
    char e164[17];
    bool ok;
};
thread_local CacheSlot cache[kCacheSlots];
} // namespace

extern "C" bool ch_phone_e164(const char *raw, const char *country, char *out, size_t outsz)
{
    if (!raw || !*raw) return false;
    size_t rn = std::strlen(raw), cn = country ? std::strlen(country) : 0;
    if (rn > 64) return false;
    if (cn > 3) return normalise(raw, country, out, outsz); // not a calling code: not cached
    char key[kKeyMax];
    std::memcpy(key, country ? country : "", cn);
    key[cn] = '|';
    std::memcpy(key + cn + 1, raw, rn + 1);
    CacheSlot &slot = cache[ch_fnv1a(CH_FNV1A_INIT, key, cn + 1 + rn) % kCacheSlots];
    if (std::strcmp(slot.key, key) != 0) {
        slot.ok = normalise(raw, country, slot.e164, sizeof slot.e164);
        std::memcpy(slot.key, key, cn + rn + 2);
    }
    if (!slot.ok) return false;
    size_t n = std::strlen(slot.e164);
    if (n + 1 > outsz) return false;
    std::memcpy(out, slot.e164, n + 1);
    return true;
}
