#!/usr/bin/env python3
"""Make tests/data/chat/cases.json: chat templates and what llama.cpp renders for them.

Sources (llama.cpp at $PEER/llama.cpp, default ~/.cache/hypura-peer/llama.cpp):
  - tests/test-chat-template.cpp: its test cases (template text and expected rendering of a
    fixed system + multi-turn conversation), except those with extra tool-call messages;
  - models/templates/*.jinja: a few real model templates;
  - EXTRA below: templates written here for families the two sources above lack.
Every expected string is what llama.cpp's llama_chat_apply_template returns (libllama.so,
called through ctypes); for the test file's cases it is also checked to equal the file's own
expected_output. The family is the built-in template name whose rendering is the same.

Usage: tests/data/chat/extract.py > tests/data/chat/cases.json
"""
import ctypes
import json
import os
import re
import sys

PEER = os.environ.get("PEER", os.path.expanduser("~/.cache/hypura-peer"))
LLAMA = os.path.join(PEER, "llama.cpp")

CONVERSATION = [
    ("system", "You are a helpful assistant"),
    ("user", "Hello"),
    ("assistant", "Hi there"),
    ("user", "Who are you"),
    ("assistant", "   I am an assistant   "),
    ("user", "Another question"),
]

# Families llama.cpp's own tests do not cover, with a template text that it recognises.
EXTRA = [
    ("zephyr (stablelm-2-zephyr style)",
     "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|endoftext|>\\n' }}"
     "{% else %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|endoftext|>\\n' }}{% endif %}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|' + 'assistant|>\\n' }}{% endif %}"),
    ("llama2 with <<SYS>> (Llama-2-chat style)",
     "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
     "{% else %}{% set system_message = '' %}{% endif %}{% for message in messages %}{% if message['role'] == 'user' %}"
     "{{ '[INST] ' + system_message + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
     "{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"),
    ("falcon3", "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}"
     "{# <|assistant|> <|user|> </s> #}"),
    ("exaone3", "{% for message in messages %}{% if message['role'] == 'system' %}{{ '[|system|]' + message['content'] + '[|endofturn|]\\n' }}"
     "{% elif message['role'] == 'user' %}{{ '[|user|]' + message['content'] + '\\n' }}{% else %}"
     "{{ '[|assistant|]' + message['content'] + '[|endofturn|]\\n' }}{% endif %}{% endfor %}"),
    ("llama4", "{% for message in messages %}{{ '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' + message['content'] | trim + '<|eot|>' }}{% endfor %}"),
]
JINJA = [
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "google-gemma-2-2b-it.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
]


class Msg(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


lib = ctypes.CDLL(os.path.join(LLAMA, "build", "bin", "libllama.so"))
lib.llama_chat_apply_template.restype = ctypes.c_int32
lib.llama_chat_apply_template.argtypes = [ctypes.c_char_p, ctypes.POINTER(Msg), ctypes.c_size_t,
                                          ctypes.c_bool, ctypes.c_char_p, ctypes.c_int32]
lib.llama_chat_builtin_templates.restype = ctypes.c_int32
lib.llama_chat_builtin_templates.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]


def render(tmpl):
    msgs = (Msg * len(CONVERSATION))(*[Msg(r.encode(), c.encode()) for r, c in CONVERSATION])
    buf = ctypes.create_string_buffer(1 << 16)
    n = lib.llama_chat_apply_template(tmpl.encode(), msgs, len(CONVERSATION), True, buf, len(buf))
    if n < 0:
        return None
    return buf.raw[:n].decode()


n_names = lib.llama_chat_builtin_templates(None, 0)
names_arr = (ctypes.c_char_p * n_names)()
lib.llama_chat_builtin_templates(names_arr, n_names)
NAMES = [n.decode() for n in names_arr]
BY_NAME = {n: render(n) for n in NAMES}


def family_of(out):
    for n in NAMES:
        if BY_NAME[n] == out:
            return n
    return None


def cpp_literal(src, i):
    """Parse C++ string literal(s) starting at src[i] (optionally inside U8C(...)); return text."""
    m = re.compile(r'\s*(U8C\()?\s*').match(src, i)
    i = m.end()
    wrapped = m.group(1) is not None
    parts = []
    while True:
        m = re.compile(r'\s*(u8)?"').match(src, i)
        if not m:
            break
        i = m.end()
        s = []
        while src[i] != '"':
            c = src[i]
            if c == '\\':
                e = src[i + 1]
                s.append({'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0'}[e])
                i += 2
            else:
                s.append(c)
                i += 1
        i += 1
        parts.append(''.join(s))
    if wrapped:
        assert src[i:].lstrip().startswith(')')
    return ''.join(parts)


def cpp_cases():
    src = open(os.path.join(LLAMA, "tests", "test-chat-template.cpp"), encoding="utf-8").read()
    src = src[src.index("std::vector<TestCase> test_cases"):]
    out = []
    for m in re.finditer(r'/\* \.name= \*/', src):
        block_end = src.find('/* .name= */', m.end())
        block = src[m.start(): block_end if block_end > 0 else len(src)]
        name = cpp_literal(block, len('/* .name= */'))
        t = block.index('/* .template_str')
        t = block.index('*/', t) + 2
        tmpl = cpp_literal(block, t)
        e = block.index('/* .expected_output= */') + len('/* .expected_output= */')
        expected = cpp_literal(block, e)
        if 'extra_conversation' in block:
            continue   # needs tool-call messages beyond the fixed conversation
        out.append((name, tmpl, expected))
    return out


cases = []
for name, tmpl, expected in cpp_cases():
    got = render(tmpl)
    if got != expected:
        sys.exit("llama.cpp renders %r differently from its test's expectation" % name)
    cases.append({"name": name, "source": "llama.cpp tests/test-chat-template.cpp",
                  "family": family_of(got), "template": tmpl, "expected": expected})
for f in JINJA:
    tmpl = open(os.path.join(LLAMA, "models", "templates", f), encoding="utf-8").read()
    got = render(tmpl)
    if got is None:
        sys.exit("llama.cpp does not recognise " + f)
    cases.append({"name": f[:-len(".jinja")], "source": "llama.cpp models/templates/" + f,
                  "family": family_of(got), "template": tmpl, "expected": got})
for name, tmpl in EXTRA:
    got = render(tmpl)
    if got is None:
        sys.exit("llama.cpp does not recognise the template for " + name)
    cases.append({"name": name, "source": "written for hypura, rendered by llama.cpp",
                  "family": family_of(got), "template": tmpl, "expected": got})

json.dump({"conversation": [{"role": r, "content": c} for r, c in CONVERSATION],
           "add_generation_prompt": True, "cases": cases}, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
