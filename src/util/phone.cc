// E.164 normalisation with Google's libphonenumber (Debian's libphonenumber-dev): the number
// plan knowledge (trunk prefixes, international prefixes, lengths per country) is theirs, kept
// up to date upstream, rather than ours. A C interface for the rest of callhook (util/phone.h).
#include <phonenumbers/phonenumberutil.h>

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
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

extern "C" bool ch_phone_e164(const char *raw, const char *country, char *out, size_t outsz)
{
    if (!raw || !*raw || std::strlen(raw) > 64) return false;
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
