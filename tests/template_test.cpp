// Template engine (daemon/template): every construct chat templates use,
// checked against what Python Jinja2 3.1.6 renders for the same template
// under Hugging Face's apply_chat_template settings (ImmutableSandboxed-
// Environment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
// strftime_now fixed at 2026-11-27 12:00, json.dumps-based tojson). The
// expected strings in kParityCases were produced by that renderer; an
// expected error is Python's exception text, which Hearth's message ends with
// (Hearth prefixes "line L, column C: "; raise_exception messages are exact).
//
// Also: syntax errors with their positions, the sandbox limits, the
// ChatTemplate facade, and the real chat templates of the shared test data
// (renderings.json, and the template inside a GGUF file).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "gguf/gguf_file.h"
#include "support/testdata.h"
#include "template/chat_template.h"
#include "template/parser.h"

namespace hearth::templating {
namespace {

std::tm fixed_now() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;  // November
  tm.tm_mday = 27;
  tm.tm_hour = 12;
  tm.tm_wday = 5;  // Friday
  tm.tm_yday = 330;
  tm.tm_isdst = -1;
  return tm;
}

Result<std::string> render(std::string_view source, const boost::json::object& vars = {},
                           const RenderLimits& limits = {}) {
  auto tpl = parse_template(source);
  if (!tpl) return tpl.status();
  return render_template(**tpl, vars, fixed_now(), limits);
}

// ---- parity with Python Jinja2 --------------------------------------------------

// The variables every parity case renders with.
const char* const kParityVars = R"({
  "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": "Hello",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
  "n": null, "l": [3, 1, 2], "d": {"b": 2, "a": 1}, "s": "Hello World"})";

struct ParityCase {
  const char* name;
  const char* source;
  bool error;          // `expected` is the error text
  const char* expected;
};

const ParityCase kParityCases[] = {
    {"ws_trim_blocks", "a\n"
         "{% if true %}\n"
         "b\n"
         "{% endif %}\n"
         "c",
     false, "a\n"
         "b\n"
         "c"},
    {"ws_lstrip_blocks", "a\n"
         "  {% if true %}\n"
         "  b\n"
         "  {% endif %}\n"
         "c",
     false, "a\n"
         "  b\n"
         "c"},
    {"ws_minus_both_sides", "a  {%- if true -%}  b  {%- endif -%}  c",
     false, "abc"},
    {"ws_plus_disables_lstrip_and_trim", "a\n"
         "  {%+ if true %}b{% endif +%}\n"
         "c",
     false, "a\n"
         "  b\n"
         "c"},
    {"ws_variable_not_lstripped", "a\n"
         "  {{ 'x' }}\n"
         "  {# comment #}\n"
         "b",
     false, "a\n"
         "  x\n"
         "b"},
    {"ws_single_trailing_newline_dropped", "a\n"
         "\n",
     false, "a\n"},
    {"ws_crlf_normalized", "a\015\n"
         "b\015\n",
     false, "a\n"
         "b"},
    {"ws_trailing_spaces_before_newline_kept", "  {% if true %}x{% endif %}  \n"
         "  y",
     false, "x  \n"
         "  y"},
    {"ws_minus_variable", "{{- ' a ' -}}\n"
         "\n"
         "{{ 'b' }}",
     false, " a b"},
    {"ws_minus_comment", "x {#- c -#} y",
     false, "xy"},
    {"ws_for_body_lines", "{% for i in [1,2] %}\n"
         "  {{ i }}\n"
         "{% endfor %}",
     false, "  1\n"
         "  2\n"},
    {"ws_for_minus", "{% for i in [1,2] -%}\n"
         "  {{ i }}\n"
         "{%- endfor %}",
     false, "12"},
    {"ws_tab_lstrip", "\t{% if 1 %}\tx{% endif %}",
     false, "\tx"},
    {"ws_only_whitespace_line", "{% if true %}   \n"
         "{% endif %}x",
     false, "   \n"
         "x"},
    {"ws_lstrip_after_text_on_line", "ab {% if true %}x{% endif %}",
     false, "ab x"},
    {"ws_raw", "a\n"
         "  {% raw %}\n"
         "  {{ x }} {% if %}\n"
         "  {% endraw %}\n"
         "b",
     false, "a\n"
         "\n"
         "  {{ x }} {% if %}\n"
         "b"},
    {"ws_comment_trims_newline", "a\n"
         "{# note #}\n"
         "b",
     false, "a\n"
         "b"},
    {"ws_nbsp_is_whitespace_for_minus", "a {%- if true %}b{% endif %}",
     false, "ab"},
    {"ws_macro_minus", "{% macro m() -%}\n"
         "  hi\n"
         "{%- endmacro %}[{{ m() }}]",
     false, "[hi]"},
    {"if_elif_else", "{% for x in [1, 2, 3, 'a', none] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x is string %}str{% elif x is none %}none{% else %}other{% endif %};{% endfor %}{% if messages %}has{% endif %}",
     false, "one;two;other;str;none;has"},
    {"print_statement_and_comments", "{# a comment {{ not rendered }} #}{% print 'p', 1 + 1 %}",
     false, "p2"},
    {"arith", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
     false, "7 9 64 4 3.5 3.0 3 -4 1 2 3.0 0.5"},
    {"concat_and_repeat", "{{ 1 ~ 2 ~ 'a' ~ none ~ true }} {{ 'a' + 'b' }} {{ 'ab' * 2 }} {{ 2 * 'ab' }} {{ [1] * 3 }} {{ [1,2] + [3] }} {{ 'x' * -1 }}|",
     false, "12aNoneTrue ab abab abab [1, 1, 1] [1, 2, 3] |"},
    {"comparisons", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }} {{ (1,2) == [1,2] }} {{ {'a':1} == {'a':1} }} {{ 'b' > 'a' }} {{ [1,2] < [1,3] }}",
     false, "True False True True True True False True True True"},
    {"in_operator", "{{ 'a' in 'abc' }} {{ 'z' not in 'abc' }} {{ 1 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'x' in undefined_thing }} {{ 'sys' in messages[0].content|lower }}",
     false, "True True True True False True"},
    {"logic_returns_operands", "{{ true and false }} {{ true or false }} {{ not true }} {{ 0 or 'x' }} {{ '' and 'y' }}|{{ none or [] }}",
     false, "False True False x |[]"},
    {"ternary", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'a' if false }}]",
     false, "yes no []"},
    {"slicing", "{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[-2:] }} {{ [1,2,3,4][::2] }} {{ [1,2,3][-1] }} {{ 'héllo'[1:3] }} {{ [1,2,3][5:] }} {{ l[::-1] }} {{ messages[1:]|length }}",
     false, "bc fedcba ef [1, 3] 3 él [] [2, 1, 3] 2"},
    {"printing_values", "{{ none }} {{ true }} {{ false }} {{ 1.0 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 0.1 }} {{ 100.0 }} {{ 1/3 }} {{ 2.0 * 3 }} {{ 10 ** 15 / 1 }} {{ 10 ** 16 / 1 }}",
     false, "None True False 1.0 1e+20 1.5e-07 0.1 100.0 0.3333333333333333 6.0 1000000000000000.0 1e+16"},
    {"printing_containers", "{{ [1, 'a', none, true, 1.5, {'k': [1]}] }} {{ {'a': 'b', 1: 2} }} {{ ('x',) }} {{ () }} {{ (1, 'a') }} {{ [x] }}",
     false, "[1, 'a', None, True, 1.5, {'k': [1]}] {'a': 'b', 1: 2} ('x',) () (1, 'a') [Undefined]"},
    {"printing_string_repr", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\nx\\ty\\\\z', 'é'] }}",
     false, "[\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\nx\\ty\\\\z', 'é']"},
    {"string_literals", "{{ 'a' 'b' }} {{ \"\\u00e9\\x41\\101\" }} {{ 'tab\\there' }} {{ 'q\\'s' }} {{ 'keep\\q' }}",
     false, "ab éAA tab\there q's keep\\q"},
    {"number_literals", "{{ 1_000 }} {{ 0x1f }} {{ 0o17 }} {{ 0b101 }} {{ 1_0.5 }} {{ 2e3 }} {{ 2E-3 }}",
     false, "1000 31 15 5 10.5 2000.0 0.002"},
    {"undefined_is_lenient", "[{{ x }}]{{ x is defined }}{{ x is undefined }}{{ x|default('d') }}{{ x|length }}{{ x|list }}{% for i in x %}never{% endfor %}{{ 'y' if x else 'n' }}",
     false, "[]FalseTrued0[]n"},
    {"missing_attribute_is_undefined", "[{{ messages[0].nope }}][{{ messages[9] }}][{{ d.zz }}][{{ d['zz'] }}]{{ messages[0].nope is defined }}{{ s.nope is defined }}",
     false, "[][][][]FalseFalse"},
    {"attribute_vs_item", "{{ messages[0].role }}{{ messages[0]['role'] }}{{ messages.0.role }}{{ d.a }}{{ d['b'] }}",
     false, "systemsystemsystem12"},
    {"tuple_unpacking_set", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}",
     false, "12(1, 2)"},
    {"tests_types", "{{ 1 is odd }}{{ 2 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ true is number }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ x is iterable }}{{ [] is sequence }}{{ {} is sequence }}{{ true is boolean }}{{ true is true }}{{ 0 is false }}{{ false is false }}",
     false, "TrueTrueTrueFalseTrueTrueTrueTrueTrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrue"},
    {"tests_comparison", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 1 is in [1] }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}{{ none is sameas none }}{{ x is not defined }}{{ 1 is not none }}",
     false, "TrueFalseTrueFalseTrueTrueTrueTrueTrueFalseTrueTrueTrue"},
    {"tests_content_types", "{% for m in [{'c': 'str'}, {'c': [{'type': 'text', 'text': 'p'}]}, {'c': {'k': 1}}, {'c': none}] %}{{ m.c is string }}{{ m.c is mapping }}{{ m.c is iterable }}{{ m.c is sequence }}{{ m.c is none }};{% endfor %}",
     false, "TrueFalseTrueTrueFalse;FalseFalseTrueTrueFalse;FalseTrueTrueTrueFalse;FalseFalseFalseFalseTrue;"},
    {"filter_trim_length_join", "{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ [1,2,3]|length }}|{{ 'héllo'|length }}|{{ {'a':1}|length }}|{{ [3,1,2]|join(', ') }}|{{ ['a','b']|join }}|{{ [{'n':'a'},{'n':'b'}]|join(',', attribute='n') }}",
     false, "hi|hi|3|5|1|3, 1, 2|ab|a,b"},
    {"filter_case_replace", "{{ 'Hello'|lower }}{{ 'Hello'|upper }}{{ 'a-b-c'|replace('-', '+') }}{{ 'aaa'|replace('a','b',2) }}{{ 'hello world-foo (bar)'|title }}{{ 'hELLO'|capitalize }}",
     false, "helloHELLOa+b+cbbaHello World-Foo (Bar)Hello"},
    {"filter_first_last_list_items", "{{ [1,2,3]|first }}{{ [1,2,3]|last }}[{{ []|first }}]{{ 'abc'|first }}{{ 'abc'|last }}{{ d|first }}{{ 'abc'|list }}{{ d|list }}{{ d|items|list }}{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}",
     false, "13[]acb['a', 'b', 'c']['b', 'a'][('b', 2), ('a', 1)]b2a1"},
    {"filter_selectattr_rejectattr_map", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }}{{ messages|selectattr('tool_calls')|list|length }}{{ messages|selectattr('tool_calls', 'defined')|map(attribute='tool_calls.0.function.name')|first }}",
     false, "['Hi']system,assistant1f"},
    {"filter_select_reject_map", "{{ [1,2,3,4]|select('odd')|list }}{{ [1,2,3,4]|reject('odd')|list }}{{ [0,1,'',none,'a']|select|list }}{{ ['a','B']|map('upper')|list }}{{ [{'x':1},{}]|map(attribute='x', default=9)|list }}",
     false, "[1, 3][2, 4][1, 'a']['A', 'B'][1, 9]"},
    {"filter_string_int_float", "{{ 'x'|string }}{{ 1|string }}{{ [1]|string }}{{ none|string }}{{ '42'|int + 1 }}{{ '3.7'|int }}{{ 'abc'|int }}{{ 'abc'|int(5) }}{{ 3.9|int }}{{ '0x1A'|int(0, 16) }}{{ ' 12 '|int }}{{ '2.5'|float }}{{ 'x'|float }}",
     false, "x1[1]None43305326122.50.0"},
    {"filter_indent", "{{ 'line1\\nline2\\n\\nline4'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('> ') }}",
     false, "line1\n"
         "    line2\n"
         "\n"
         "    line4|  a\n"
         "  b|a\n"
         "  \n"
         "  b|a\n"
         "> b"},
    {"filter_sort_unique", "{{ [3,1,2]|sort }}{{ [3,1,2]|sort(reverse=true) }}{{ ['b','A','c']|sort }}{{ ['b','A','c']|sort(case_sensitive=true) }}{{ [{'n':2},{'n':1}]|sort(attribute='n') }}{{ [1,2,1,3,'a','A']|unique|list }}{{ ['a','A']|unique(case_sensitive=true)|list }}",
     false, "[1, 2, 3][3, 2, 1]['A', 'b', 'c']['A', 'b', 'c'][{'n': 1}, {'n': 2}][1, 2, 3, 'a']['a', 'A']"},
    {"filter_round", "{{ 2.5|round }}{{ 3.5|round }}{{ 2.675|round(2) }}{{ 2.1|round(method='ceil') }}{{ 2.9|round(0, 'floor') }}{{ 5|round }}{{ 1234|round(-2) }}{{ -2.5|round }}",
     false, "2.04.02.673.02.051200-2.0"},
    {"filter_tojson", "{{ {'a':1}|tojson }}{{ [1,'é',none,true,1.5]|tojson }}{{ {'b':1,'a':2}|tojson(sort_keys=true) }}{{ 'x\\ny\"\\u0001'|tojson }}{{ {}|tojson(indent=2) }}{{ []|tojson(indent=2) }}{{ (1,2)|tojson }}{{ 'é'|tojson(true) }}{{ {1: 'a', none: 2, true: 3}|tojson }}{{ 1.0|tojson }}{{ 1e100|tojson }}",
     false, "{\"a\": 1}[1, \"é\", null, true, 1.5]{\"a\": 2, \"b\": 1}\"x\\ny\\\"\\u0001\"{}[][1, 2]\"\\u00e9\"{\"1\": 3, \"null\": 2}1.01e+100"},
    {"filter_tojson_indent", "{{ {'a':[1,{'b':2}], 'c': {}}|tojson(indent=2) }}|{{ messages[2].tool_calls|tojson(indent=4) }}|{{ [1]|tojson(indent='\\t') }}|{{ {'a': 1}|tojson(separators=(',', ':')) }}",
     false, "{\n"
         "  \"a\": [\n"
         "    1,\n"
         "    {\n"
         "      \"b\": 2\n"
         "    }\n"
         "  ],\n"
         "  \"c\": {}\n"
         "}|[\n"
         "    {\n"
         "        \"function\": {\n"
         "            \"name\": \"f\",\n"
         "            \"arguments\": {\n"
         "                \"a\": 1\n"
         "            }\n"
         "        }\n"
         "    }\n"
         "]|[\n"
         "\t1\n"
         "]|{\"a\":1}"},
    {"filter_misc", "{{ 'a'|safe }}{{ '<b>&\"'|e }}{{ -3|abs }}{{ [1,2,3]|sum }}{{ [1,2,3]|max }}{{ [1,2,3]|min }}{{ ['b','a']|max }}{{ d|dictsort }}{{ d|dictsort(by='value') }}{{ [1,2,3,4,5]|batch(2)|list }}{{ [1,2,3,4,5]|slice(2)|list }}",
     false, "a&lt;b&gt;&amp;&#34;3631b[('a', 1), ('b', 2)][('a', 1), ('b', 2)][[1, 2], [3, 4], [5]][[1, 2, 3], [4, 5]]"},
    {"filter_groupby_reverse_wordcount", "{% for grp in [{'g':'a','v':1},{'g':'b','v':2},{'g':'a','v':3}]|groupby('g') %}{{ grp.grouper }}:{{ grp.list|map(attribute='v')|join }};{% endfor %}{{ [1,2,3]|reverse|list }}{{ 'abc'|reverse }}{{ 'hello world foo'|wordcount }}{{ 'long text here'|truncate(9) }}{{ '%s=%d'|format('a', 3) }}{{ 'a<b>c</b>d'|striptags }}{{ 'abc'|center(9) }}|",
     false, "a:13;b:2;[3, 2, 1]cba3long text herea=3acd   abc   |"},
    {"filter_default_boolean", "{{ x|default('def', true) }}{{ ''|d('e', true) }}{{ 0|default(5) }}{{ none|default('n') }}{{ none|default('n', true) }}",
     false, "defe0Nonen"},
    {"filter_generators_are_one_shot_and_truthy", "{% set g = [1,2]|select %}{{ g|list }}{{ g|list }}{{ 'truthy' if []|select else 'falsy' }}",
     false, "[1, 2][]truthy"},
    {"str_split", "{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a b c'.rsplit(' ', 1) }}{{ '  a b  '.split(none, 1) }}{{ 'a\\nb\\r\\nc'.splitlines() }}{{ 'x</think>y'.split('</think>')[-1] }}",
     false, "['a', 'b', '', 'c']['a', 'b']['a', 'b c']['a b', 'c']['a', 'b  ']['a', 'b', 'c']y"},
    {"str_strip_case", "{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x','lo')) }}[{{ '  x  '.strip() }}]{{ 'xxaxx'.lstrip('x') }}{{ 'xxaxx'.rstrip('x') }}{{ '\\n\\nt\\n'.lstrip('\\n') }}{{ 'hello world'.title() }}{{ \"they're\".title() }}{{ 'aBc'.upper() }}{{ 'aBc'.lower() }}{{ 'abc'.capitalize() }}{{ 'ΣΑΣ'.lower() }}{{ 'straße'.upper() }}",
     false, "TrueTrue[x]axxxxat\n"
         "Hello WorldThey'ReABCabcAbcσαςSTRASSE"},
    {"str_format_find", "{{ 'a-b'.replace('-', '+') }}{{ 'ab'.replace('', '-') }}{{ '{} and {}'.format(1, 'x') }}{{ '{0}{1}{0}'.format('a','b') }}{{ '{name}!'.format(name='x') }}{{ '{:>5}|{:<5}|{:^5}|{:05.2f}|{:,}|{!r}'.format('a','b','c',3.14159,1234567,'q') }}{{ 'abc'.find('c') }}{{ 'abc'.find('z') }}{{ 'aaa'.count('a') }}{{ '-'.join(['a','b']) }}",
     false, "a+b-a-b-1 and xabax!    a|b    |  c  |03.14|1,234,567|'q'2-13a-b"},
    {"str_misc_methods", "{{ 'a=b=c'.partition('=') }}{{ 'a=b=c'.rpartition('=') }}{{ '42'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'abc'.islower() }}{{ 'abc'.isupper() }}{{ 'abc'.center(7, '*') }}{{ 'abc'.ljust(5) }}|{{ 'abc'.rjust(5) }}{{ '42'.zfill(5) }}{{ 'prefix_x'.removeprefix('prefix_') }}{{ 'x.py'.removesuffix('.py') }}",
     false, "('a', '=', 'b=c')('a=b', '=', 'c')TrueTrueTrueTrueFalse**abc**abc  |  abc00042xx"},
    {"percent_format", "{{ '%s-%d' % ('a', 3) }}{{ '%05.1f|%x|%r|%%' % (3.14159, 255, 'a') }}{{ '%(k)s' % {'k': 'v'} }}{{ '%5s|%-5s|' % ('a', 'b') }}",
     false, "a-3003.1|ff|'a'|%v    a|b    |"},
    {"dict_methods", "{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 9) }}{{ d.items() }}{{ d.keys() }}{{ d.values() }}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.items()|list }}{{ messages[0].get('tool_calls') }}{{ 'b' in d.keys() }}",
     false, "1None9dict_items([('b', 2), ('a', 1)])dict_keys(['b', 'a'])dict_values([2, 1])b=2;a=1;[('b', 2), ('a', 1)]NoneTrue"},
    {"list_methods", "{{ l.index(2) }}{{ l.count(1) }}[{{ l.append }}]{{ l|length }}",
     false, "21[]3"},
    {"loop_variables", "{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}|{% endfor %}",
     false, "1032TrueFalse31|2121FalseFalse31|3210FalseTrue31|"},
    {"loop_previtem_nextitem", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}{{ loop.previtem is defined }};{% endfor %}{% for m in messages %}{% if loop.previtem and loop.previtem.role != m.role %}*{% endif %}{% endfor %}",
     false, "-2False;1-3True;2-True;**"},
    {"loop_else", "{% for x in [] %}a{% else %}empty{% endfor %}{% for x in [1] %}a{% else %}empty{% endfor %}{% for x in [1] if false %}a{% else %}filtered-empty{% endfor %}",
     false, "emptyafiltered-empty"},
    {"loop_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.index }}{{ loop.last }},{% endfor %}",
     false, "11False,32False,53False,74False,95True,"},
    {"loop_break_continue", "{% for x in range(10) %}{% if x == 5 %}{% break %}{% endif %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}",
     false, "024"},
    {"loop_over_kinds", "{% for k in {'a':1,'b':2} %}{{ k }}{% endfor %}{% for c in 'ab' %}{{ c }}{% endfor %}{% for a, b in [[1,2],[3,4]] %}{{ a+b }}{% endfor %}{% for x in none_like if x %}{% endfor %}{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}",
     false, "abab37aus"},
    {"loop_nested", "{% for x in [1,2] %}{% for y in [3,4] %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ loop.index }}{% endfor %}",
     false, "11321411232242"},
    {"loop_cycle_changed", "{% for x in ['a','b','c'] %}{{ loop.cycle('odd','even') }}{% endfor %}{% for x in [1,1,2] %}{{ loop.changed(x) }}{% endfor %}",
     false, "oddevenoddTrueFalseTrue"},
    {"loop_range", "{% for x in range(3) %}{{ x }}{% endfor %}{{ range(2, 10, 3)|list }}{{ range(5, 0, -2)|list }}{{ range(3) }}{{ range(3)|length }}",
     false, "012[2, 5, 8][5, 3, 1]range(0, 3)3"},
    {"loop_recursive", "{% set items = [{'n':'a','c':[{'n':'b','c':[]}]}] %}{% for i in items recursive %}{{ i.n }}{% if i.c %}({{ loop(i.c) }}){% endif %}{{ loop.depth }}{% endfor %}",
     false, "a(b2)1"},
    {"scope_loop_does_not_leak", "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}{% for i in [1,2] %}[{{ y }}]{% set y = i %}{% endfor %}",
     false, "21[][]"},
    {"scope_namespace", "{% set ns = namespace(x=1, found=false) %}{% for i in [1,2] %}{% set ns.x = ns.x + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.x }}{{ ns.found }}{{ ns }}{% set n2 = namespace() %}{% set n2.a = 'v' %}{{ n2.a }}[{{ n2.b }}]",
     false, "4True<Namespace {'x': 4, 'found': True}>v[]"},
    {"scope_if_does_not_scope", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}{% set messages = messages[1:] %}{{ messages|length }}",
     false, "32"},
    {"scope_with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
     false, "3[]"},
    {"set_block_and_filter_block", "{% set x %}captured {{ 1 + 1 }}{% endset %}[{{ x }}]{% set y | upper %}up{% endset %}{{ y }}{% filter upper %}hello {{ 'world' }}{% endfilter %}",
     false, "[captured 2]UPHELLO WORLD"},
    {"macro_args_defaults_kwargs", "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('A') }} {{ greet('B', 'Hi') }} {{ greet(name='C', greeting='Yo') }} {{ greet() }}",
     false, "Hello, A! Hi, B! Yo, C! Hello, !"},
    {"macro_varargs_kwargs", "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}",
     false, "1|(2, 3)|{'k': 'v'}"},
    {"macro_caller", "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner{% endcall %}{% macro w2(x) %}{{ caller(x * 2) }}{% endmacro %}{% call(v) w2(21) %}v={{ v }}{% endcall %}",
     false, "<inner>v=42"},
    {"macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
     false, "120"},
    {"macro_sees_template_scope_at_call_time", "{% macro m() %}{{ outer }}{% endmacro %}{% set outer = 'o' %}{{ m() }}{{ m.name }}{% for outer in ['loopvar'] %}{{ m() }}{% endfor %}",
     false, "omo"},
    {"globals_misc", "{{ dict(a=1, b=2) }}{{ namespace(a=1).a }}{% set c = cycler('x','y') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{% set j = joiner('|') %}{{ j() }}a{{ j() }}b",
     false, "{'a': 1, 'b': 2}1xyxa|b"},
    {"strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M|%d %b %Y|%B %d, %Y|%A|%a|%j|%p|%y|%-d') }}",
     false, "2026-11-27 12:00|27 Nov 2026|November 27, 2026|Friday|Fri|331|PM|26|27"},
    {"raise_exception", "before{{ raise_exception('System role not supported') }}",
     true, "System role not supported"},
    {"raise_exception_in_loop", "{% for m in messages %}{% if m.role == 'assistant' %}{{ raise_exception('Roles must alternate') }}{% endif %}{% endfor %}",
     true, "Roles must alternate"},
    {"err_undefined_attribute_of_undefined", "{{ x.y }}",
     true, "'x' is undefined"},
    {"err_attribute_of_missing_attribute", "{{ d.x.y }}",
     true, "'dict object' has no attribute 'x'"},
    {"err_str_plus_int", "{{ 'a' + 1 }}",
     true, "can only concatenate str (not \"int\") to str"},
    {"err_int_plus_str", "{{ 1 + 'a' }}",
     true, "unsupported operand type(s) for +: 'int' and 'str'"},
    {"err_missing_element", "{{ l[5].x }}",
     true, "list object has no element 5"},
    {"err_none_attribute", "{{ n.x.y }}",
     true, "'None' has no attribute 'x'"},
    {"err_division_by_zero", "{{ 1 / 0 }}",
     true, "division by zero"},
    {"err_undefined_arithmetic", "{{ x + 1 }}",
     true, "'x' is undefined"},
    {"err_immutable_list", "{{ l.append(1) }}",
     true, "access to attribute 'append' of 'list' object is unsafe."},
    {"err_immutable_dict", "{{ d.update({}) }}",
     true, "access to attribute 'update' of 'dict' object is unsafe."},
    {"err_unpack", "{% for a, b in [1] %}{% endfor %}",
     true, "cannot unpack non-iterable int object"},
    {"err_not_iterable", "{% for x in 5 %}{% endfor %}",
     true, "'int' object is not iterable"},
    {"err_range_too_big", "{{ range(200000)|length }}",
     true, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."},
    {"err_call_undefined", "{{ foo() }}",
     true, "'foo' is undefined"},
    {"err_not_callable", "{{ 'x'() }}",
     true, "'str' object is not callable"},
    {"err_tojson_undefined", "{{ x|tojson }}",
     true, "Object of type Undefined is not JSON serializable"},
    {"err_set_attr_non_namespace", "{% set ns = 1 %}{% set ns.y = 1 %}",
     true, "cannot assign attribute on non-namespace object"},
    {"err_ordering_types", "{{ 1 < 'a' }}",
     true, "'<' not supported between instances of 'int' and 'str'"},
    {"err_sort_mixed", "{{ [1, 'a']|sort }}",
     true, "'<' not supported between instances of 'str' and 'int'"},
    {"err_macro_too_many_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
     true, "macro 'm' takes not more than 1 argument(s)"},
    {"err_unknown_filter_in_if_raises_when_run", "{% if true %}{{ 1|nosuchfilter }}{% endif %}",
     true, "No filter named 'nosuchfilter' found."},
    {"unknown_filter_in_if_not_run_is_fine", "{% if false %}{{ 1|nosuchfilter }}{% endif %}ok{{ 'x' if true else 1|nosuch }}",
     false, "okx"},
};

class JinjaParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(JinjaParity, RendersAsPythonJinja2) {
  const ParityCase& c = GetParam();
  const auto vars = boost::json::parse(kParityVars).as_object();
  auto out = render(c.source, vars);
  if (!c.error) {
    ASSERT_TRUE(out.is_ok()) << out.message();
    EXPECT_EQ(*out, c.expected);
    return;
  }
  ASSERT_FALSE(out.is_ok()) << "rendered: " << *out;
  const std::string& msg = out.message();
  const std::string want = c.expected;
  const bool matches = msg == want || (msg.size() > want.size() + 2 &&
                                       msg.compare(msg.size() - want.size() - 2, std::string::npos, ": " + want) == 0);
  EXPECT_TRUE(matches) << "message: " << msg << "\nwanted:  " << want;
}

INSTANTIATE_TEST_SUITE_P(Constructs, JinjaParity, ::testing::ValuesIn(kParityCases),
                         [](const ::testing::TestParamInfo<ParityCase>& info) { return std::string(info.param.name); });

TEST(TemplateStatements, GenerationTagRendersItsBodyInPlace) {
  // Hugging Face's {% generation %} (assistant-token masks) only marks text.
  auto out = render("{% for m in ['a', 'b'] %}<{% generation %}{{ m }}{% set inner = 1 %}{% endgeneration %}>{% endfor %}"
                    "[{{ inner }}]");
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_EQ(*out, "<a><b>[]");
}

TEST(TemplateErrors, RaiseExceptionMessageIsExact) {
  auto out = render("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                    boost::json::parse(kParityVars).as_object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.message(), "System role not supported");
}

TEST(TemplateErrors, RuntimeErrorsNameTheirPosition) {
  auto out = render("line one\n{{ 'x' }}{{ missing.attr }}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.message(), "line 2, column 13: 'missing' is undefined");
}

// ---- syntax errors ----------------------------------------------------------------

struct SyntaxCase {
  const char* source;
  const char* message;  // the whole error, position included
};

const SyntaxCase kSyntaxCases[] = {
    {"{% if x %}",
     "line 1, column 11: Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or "
     "'endif'. The innermost block that needs to be closed is 'if'."},
    {"{% for x in y %}{% endif %}",
     "line 1, column 20: Encountered unknown tag 'endif'. Jinja was looking for the following tags: 'endfor' or "
     "'else'. The innermost block that needs to be closed is 'for'."},
    {"ok\n\n   {% if a %}\n{% endfor %}",
     "line 4, column 4: Encountered unknown tag 'endfor'. Jinja was looking for the following tags: 'elif' or "
     "'else' or 'endif'. The innermost block that needs to be closed is 'if'."},
    {"{% set x %}",
     "line 1, column 12: Unexpected end of template. Jinja was looking for the following tags: 'endset'. The "
     "innermost block that needs to be closed is 'set'."},
    {"{{ x | nosuch }}", "line 1, column 8: No filter named 'nosuch'."},
    {"{{ x|foo.bar }}", "line 1, column 6: No filter named 'foo.bar'."},
    {"{% for m in messages %}{{ m|nosuch }}{% endfor %}", "line 1, column 29: No filter named 'nosuch'."},
    {"{{ x is nosuch }}", "line 1, column 6: No test named 'nosuch'."},
    {"{{ 1 + }}", "line 1, column 8: unexpected 'end of print statement'"},
    {"line1\n  {{ x +* 2 }}", "line 2, column 9: unexpected '*'"},
    {"{% foo %}", "line 1, column 4: Encountered unknown tag 'foo'."},
    {"{% endif %}", "line 1, column 4: Encountered unknown tag 'endif'."},
    {"{{ 'abc }}", "line 1, column 4: unexpected char \"'\""},
    {"{# unclosed", "line 1, column 1: Missing end of comment tag"},
    {"{% raw %}abc", "line 1, column 1: Missing end of raw directive"},
    {"{{ (1 }}", "line 1, column 7: unexpected '}', expected ')'"},
    {"{{ x }", "line 1, column 6: unexpected '}'"},
    {"{% macro m(a=1, b) %}{% endmacro %}", "line 1, column 17: non-default argument follows default argument"},
    {"{% break %}", "line 1, column 4: 'break' outside loop"},
    {"{% for x in y %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}", "line 1, column 35: 'break' outside loop"},
    {"{% set 1 = 2 %}", "line 1, column 8: can't assign to 'const'"},
    {"{{ a is defined is string }}", "line 1, column 17: You cannot chain multiple tests with is"},
    {"{% call foo %}{% endcall %}", "line 1, column 4: expected call"},
    {"{{ f(a=1, 2) }}", "line 1, column 5: invalid syntax for function call expression"},
    {"{{ '\\x4' }}", "line 1, column 4: truncated \\xXX escape"},
    {"héllo {{ é| }}", "line 1, column 13: expected token 'name', got 'end of print statement'"},
    {"{{ 99999999999999999999 }}", "line 1, column 4: integer literal too large (templates use 64-bit integers)"},
    {"{% include 'x' %}",
     "line 1, column 4: the 'include' tag is not supported (a chat template is a single self-contained template)"},
    {"ab\xff", "line 1, column 3: template source is not valid UTF-8"},
};

TEST(TemplateSyntax, ErrorsCarryLineAndColumn) {
  for (const auto& c : kSyntaxCases) {
    auto tpl = ChatTemplate::parse(c.source);
    ASSERT_FALSE(tpl.is_ok()) << c.source;
    EXPECT_EQ(tpl.message(), c.message) << c.source;
  }
}

TEST(TemplateSyntax, UnknownFilterInsideIfIsDeferredAsInJinja) {
  // Jinja compiles `if` bodies in a "soft" frame: an unknown filter there
  // only fails when it runs, so guarded uses still load.
  EXPECT_TRUE(ChatTemplate::parse("{% if 'markdown' is filter %}{{ x|markdown }}{% endif %}").is_ok());
  EXPECT_FALSE(ChatTemplate::parse("{{ x|markdown }}").is_ok());
}

TEST(TemplateSyntax, DeepNestingIsRefusedNotCrashing) {
  std::string deep(5000, '(');
  deep = "{{ " + deep + "1" + std::string(5000, ')') + " }}";
  auto tpl = ChatTemplate::parse(deep);
  ASSERT_FALSE(tpl.is_ok());
  EXPECT_NE(tpl.message().find("nested too deeply"), std::string::npos) << tpl.message();

  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_FALSE(ChatTemplate::parse(chain + " }}").is_ok());

  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  for (int i = 0; i < 5000; ++i) blocks += "{% endif %}";
  EXPECT_FALSE(ChatTemplate::parse(blocks).is_ok());
}

// ---- sandbox limits ------------------------------------------------------------------

TEST(TemplateSandbox, EndlessLoopIsStopped) {
  const auto start = std::chrono::steady_clock::now();
  auto out = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("loop iterations (sandbox limit)"), std::string::npos) << out.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(TemplateSandbox, RangeIsCappedAsInJinjasSandbox) {
  auto out = render("{% for i in range(10**9) %}{% endfor %}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."),
            std::string::npos);
}

TEST(TemplateSandbox, HugeStringIsStopped) {
  for (const char* source : {
           "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
           "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
           "{{ 'x' * 1000000000000 }}",
           "{{ 'ab' * (2 ** 40) }}",
           "{{ 'a'|indent(10 ** 12) }}",
           "{{ 'a'.center(10 ** 12) }}",
           "{{ [1]|tojson(indent=10 ** 12) }}",
       }) {
    auto out = render(source);
    ASSERT_FALSE(out.is_ok()) << source;
    EXPECT_NE(out.message().find("limit"), std::string::npos) << source << ": " << out.message();
  }
}

TEST(TemplateSandbox, OutputSizeIsBounded) {
  RenderLimits limits;
  limits.max_output_bytes = 1 << 16;
  auto out = render("{% for i in range(100000) %}{{ 'xxxxxxxxxx' }}{% endfor %}", {}, limits);
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("rendered output exceeds the limit of 65536 bytes"), std::string::npos);
}

TEST(TemplateSandbox, HugeListIsStopped) {
  auto out = render("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("items"), std::string::npos) << out.message();
  EXPECT_FALSE(render("{{ ([1] * 10 ** 12)|length }}").is_ok());
}

TEST(TemplateSandbox, RecursionIsBounded) {
  auto out = render("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("maximum recursion depth exceeded"), std::string::npos) << out.message();

  // Exponential fan-out without loops: bounded by the total call budget.
  RenderLimits limits;
  limits.max_calls = 10000;
  out = render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}", {},
               limits);
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("macro calls (sandbox limit)"), std::string::npos) << out.message();
}

TEST(TemplateSandbox, DeepDataIsRefused) {
  auto out = render("{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}");
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("containers deep"), std::string::npos) << out.message();
}

TEST(TemplateSandbox, SelfReferentialNamespacePrintsAsPython) {
  auto out = render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}");
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_EQ(*out, "<Namespace {'me': <Namespace {...}>}>");
}

TEST(TemplateSandbox, NoMutationOfInputs) {
  auto out = render("{{ messages.append({}) }}", boost::json::parse(kParityVars).as_object());
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.message().find("access to attribute 'append' of 'list' object is unsafe."), std::string::npos);
  EXPECT_FALSE(render("{{ ''.__class__ }}x").value().empty());
  EXPECT_EQ(render("{{ ''.__class__ }}x").value(), "x");
}

// ---- ChatTemplate facade ------------------------------------------------------------

TEST(ChatTemplate, RendersInputsAndKeepsToolsUndefinedUnlessGiven) {
  auto tpl = ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
      "{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}|{{ tools is defined }}"
      "{% if tools is defined %}{{ tools|tojson }}{% endif %}|{{ enable_thinking }}|{{ strftime_now('%d %b %Y') }}");
  ASSERT_TRUE(tpl.is_ok()) << tpl.message();
  ChatInputs in;
  in.messages = boost::json::parse(R"([{"role":"user","content":"Hi"}])").as_array();
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.now = fixed_now();
  in.extra["enable_thinking"] = false;
  auto out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_EQ(*out, "<s>[user:Hi]<gen></s>|False|False|27 Nov 2026");

  in.add_generation_prompt = false;
  in.tools = boost::json::parse(R"([{"type":"function","function":{"name":"f"}}])");
  out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_EQ(*out, "<s>[user:Hi]</s>|True[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]|False|27 Nov 2026");
}

TEST(ChatTemplate, ContentPartsAndToolCallsPassThrough) {
  auto tpl = ChatTemplate::parse(
      "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% elif m.content is iterable %}"
      "{% for p in m.content %}{{ p.text if p.type == 'text' else '<img>' }}{% endfor %}{% endif %}"
      "{% for c in m.tool_calls|default([]) %}{{ c.function.name }}{{ c.function.arguments|tojson }}{% endfor %}"
      "{% endfor %}");
  ASSERT_TRUE(tpl.is_ok()) << tpl.message();
  ChatInputs in;
  in.messages = boost::json::parse(R"([
      {"role":"user","content":[{"type":"text","text":"Look: "},{"type":"image"}]},
      {"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"get","arguments":{"q":"é"}}}]}])")
                    .as_array();
  auto out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_EQ(*out, "Look: <img>get{\"q\": \"é\"}");
}

TEST(ChatTemplate, ConcurrentRendersOfOneTemplate) {
  auto tpl = ChatTemplate::parse("{% for m in messages %}{{ m.content|upper }}{% endfor %}");
  ASSERT_TRUE(tpl.is_ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ChatInputs in;
      const std::string id = std::to_string(t);
      boost::json::object message;
      message["role"] = "user";
      message["content"] = std::string("t").append(id);
      in.messages.push_back(message);
      const std::string want = std::string("T").append(id);
      for (int i = 0; i < 200; ++i) {
        auto out = tpl->render(in);
        if (out.is_ok() && *out == want) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

// ---- the real chat templates of the shared test data ----------------------------------
//
// The acceptance check: every case of chat_templates/renderings.json (twelve
// model templates, rendered by Python Jinja2 the way apply_chat_template
// does) byte for byte, or the same raise_exception message; and the chat
// template stored in a GGUF file's metadata (phi-3). Skips without the data.

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TemplateReference, RenderingsJsonByteForByte) {
  HEARTH_REQUIRE_TESTDATA(renderings, "chat_templates/renderings.json");
  const auto doc = boost::json::parse(read_file(renderings));
  const auto& cases = doc.at("cases").as_array();
  ASSERT_FALSE(cases.empty());
  std::map<std::string, std::pair<int, int>> per_template;  // passed, total
  for (const auto& cv : cases) {
    const auto& c = cv.as_object();
    const std::string name(c.at("template").as_string());
    const std::string conversation(c.at("conversation").as_string());
    SCOPED_TRACE(name + " / " + conversation);
    auto& [passed, total] = per_template[name];
    ++total;
    const auto source = read_file(renderings.parent_path() / (name + ".jinja"));
    ASSERT_FALSE(source.empty()) << "missing template " << name;
    auto tpl = ChatTemplate::parse(source);
    ASSERT_TRUE(tpl.is_ok()) << tpl.message();
    ChatInputs in;
    in.messages = c.at("messages").as_array();
    in.bos_token = std::string(c.at("bos_token").as_string());
    in.eos_token = std::string(c.at("eos_token").as_string());
    in.add_generation_prompt = c.at("add_generation_prompt").as_bool();
    in.now = fixed_now();
    auto out = tpl->render(in);
    if (const auto* want = c.if_contains("rendered")) {
      ASSERT_TRUE(out.is_ok()) << out.message();
      EXPECT_EQ(*out, want->as_string().c_str());
      if (out.is_ok() && *out == want->as_string().c_str()) ++passed;
    } else {
      const std::string error(c.at("error").as_string());
      ASSERT_FALSE(out.is_ok()) << "rendered instead of raising: " << *out;
      EXPECT_EQ(out.message(), error);
      if (out.message() == error) ++passed;
    }
  }
  EXPECT_EQ(per_template.size(), 12u);
  for (const auto& [name, counts] : per_template) {
    std::printf("  %-48s %d/%d\n", name.c_str(), counts.first, counts.second);
  }
}

TEST(TemplateReference, ChatTemplateFromGgufMetadata) {
  HEARTH_REQUIRE_TESTDATA(model, "vocab/ggml-vocab-phi-3.gguf");
  auto file = gguf::GgufFile::open(model, gguf::LoadMode::kMmap);
  ASSERT_TRUE(file.is_ok()) << file.message();
  auto source = (*file)->get_string("tokenizer.chat_template");
  ASSERT_TRUE(source.is_ok()) << source.message();
  ASSERT_TRUE(source->has_value());
  auto tpl = ChatTemplate::parse(**source);
  ASSERT_TRUE(tpl.is_ok()) << tpl.message();
  ChatInputs in;
  in.messages = boost::json::parse(R"([{"role":"system","content":"You are a concise assistant."},
      {"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4."},
      {"role":"user","content":"And 3+3?"}])").as_array();
  in.bos_token = "<s>";
  in.eos_token = "<|endoftext|>";
  auto out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  // Python Jinja2's rendering of the same template and conversation.
  EXPECT_EQ(*out, "<s><|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n");
}

}  // namespace
}  // namespace hearth::templating
